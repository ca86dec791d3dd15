"""Reading atomic models: atoms, weights, centring, sizes, and errors that name the file."""

import csv
import gzip
import shutil

import gemmi
import numpy as np
import pytest

from napari_cryohype.core.atoms import is_model_file, max_extent, model_name, read_atoms
from napari_cryohype.core.errors import InputError
from napari_cryohype.core.simulate import bundled_structures

TINY_PDB = """\
ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N
ATOM      2  CA  GLY A   1      10.000   0.000   0.000  1.00  0.00           C
ATOM      3  H   GLY A   1       0.000  10.000   0.000  1.00  0.00           H
HETATM    4  O   HOH A 101      50.000  50.000  50.000  1.00  0.00           O
END
"""


def bundled(name):
    return next(p for p in bundled_structures() if p.name.startswith(name))


def test_bundled_model_matches_its_index_row():
    path = bundled("1CLV")
    row = next(r for r in csv.DictReader(open(path.parent / "index.csv")) if r["name"] == "1CLV")
    m = read_atoms(path)
    assert m.name == "1CLV" and m.n_atoms == int(row["n_atoms"])
    assert set(np.unique(m.weights)) <= {1, 6, 7, 8, 15, 16, 30}  # atomic numbers
    np.testing.assert_allclose(m.weights @ m.coords / m.weights.sum(), 0, atol=1e-9)  # weighted centre
    assert m.extent == pytest.approx(float(row["max_extent_A"]), abs=0.2)
    assert 2 * m.radius == pytest.approx(float(row["rot_box_A"]), abs=0.5)


def test_waters_skipped_hydrogens_kept_with_their_atomic_numbers(tmp_path):
    path = tmp_path / "tiny.pdb"
    path.write_text(TINY_PDB)
    m = read_atoms(path)
    assert sorted(m.weights) == [1, 6, 7]
    # weighted centre of N (7) at 0, C (6) at x=10, H (1) at y=10
    np.testing.assert_allclose(m.coords[0], [-60 / 14, -10 / 14, 0])
    assert m.extent == pytest.approx(np.sqrt(200))


def test_gzipped_plain_and_mmcif_give_the_same_atoms(tmp_path):
    gz = bundled("2OOB")
    plain = tmp_path / "2OOB.pdb"
    with gzip.open(gz, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    cif = tmp_path / "2OOB.cif"
    gemmi.read_structure(str(plain)).make_mmcif_document().write_file(str(cif))
    a, b, c = read_atoms(gz), read_atoms(plain), read_atoms(cif)
    np.testing.assert_allclose(a.coords, b.coords)
    np.testing.assert_allclose(a.coords, c.coords, atol=1e-6)
    assert a.name == b.name == c.name == "2OOB"


@pytest.mark.parametrize("content", [None, "this is not a structure\n", "REMARK nothing\nEND\n"])
def test_bad_or_missing_file_is_an_input_error_naming_it(tmp_path, content):
    path = tmp_path / "model.pdb"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as err:
        read_atoms(path)
    assert str(path) in str(err.value)


def test_names_and_suffixes():
    assert model_name("x/1abc.pdb.gz") == "1abc" and model_name("2XYZ.cif") == "2XYZ"
    assert is_model_file("a.mmcif.gz") and is_model_file("A.PDB") and not is_model_file("index.csv")


def test_max_extent_equals_brute_force(rng):
    pts = rng.normal(size=(300, 3)) * [30, 10, 5]
    brute = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max()
    assert max_extent(pts) == pytest.approx(brute)
