"""Choosing the number of k-means clusters from the latents: the grid of k, the silhouette rule, the table."""

import numpy as np
import pytest

from napari_cryohype.core import k_choice


def directions(rng: np.random.Generator, k: int, n_per: int, d: int = 32, noise: float = 0.1):
    """k clusters of latents that differ in direction, each image's length drawn within ±50%; and labels."""
    labels = np.repeat(np.arange(k), n_per)
    centres = rng.standard_normal((k, d))
    x = centres[labels] * rng.uniform(0.5, 1.5, (labels.size, 1)) + noise * rng.standard_normal((labels.size, d))
    return x.astype(np.float32), labels


def test_grid_is_dense_then_log_spaced_and_bounded_by_the_images():
    assert k_choice.k_grid(1500).tolist()[:19] == list(range(2, 21))
    big = k_choice.k_grid(100_000)
    assert big[-1] == k_choice.K_MAX and np.all(np.diff(big) > 0)
    steps = big[19:] / big[18:-1]
    assert steps.max() < 1.3 and len(big) < 40           # about 25% steps: cost bounded
    assert k_choice.k_grid(1500)[-1] == 150              # at most N / 10
    assert k_choice.k_grid(30).tolist() == [2, 3] and k_choice.k_grid(5).tolist() == [2]


@pytest.mark.parametrize("k", [3, 7])
def test_choose_k_finds_the_number_of_directions(rng, k):
    x, labels = directions(rng, k, 40)
    choice = k_choice.choose_k(x, labels=labels)
    assert choice.k == k and choice.n_scored == len(x)
    at = choice.ks == k
    assert choice.silhouette[at][0] > 0.5 and choice.scores[at][0] > 0.2   # well above a cloud with no clusters
    assert choice.ari[choice.ks == k][0] == pytest.approx(1.0)
    assert set(range(2, 13)) <= set(choice.ks.tolist())


def test_choose_k_scores_a_subsample_and_refines_around_the_choice(rng):
    x, _ = directions(rng, 25, 16)
    choice = k_choice.choose_k(x, max_points=360)
    assert choice.n_scored == 360 and choice.k == 25
    assert k_choice.k_grid(360).tolist()[19:] == [24, 30, 36]
    assert set(range(24, 31)) <= set(choice.ks.tolist())   # every k between the grid's neighbours of the choice
    assert choice.ari is None


def test_an_elongated_cloud_with_no_clusters_scores_low_while_its_silhouette_looks_good(rng):
    # one Gaussian cloud stretched along one axis (as latents are, along their mass): cutting it in two gives
    # a fair silhouette, the reference cloud of the same spread gives as much, so the score stays near 0
    x = rng.standard_normal((600, 10)) * np.array([5.0] + [1.0] * 9)
    choice = k_choice.choose_k(x)
    two = choice.ks == 2
    assert choice.silhouette[two][0] > 0.5 and abs(choice.scores[two][0]) < 0.05
    np.testing.assert_allclose(choice.scores, choice.silhouette - choice.reference)


def test_the_table_round_trips(rng, tmp_path):
    x, labels = directions(rng, 3, 20)
    choice = k_choice.choose_k(x, labels=labels)
    path = k_choice.write_table(choice, tmp_path / "k_choice.csv")
    table = k_choice.read_table(path)
    np.testing.assert_array_equal(table["k"], choice.ks)
    np.testing.assert_allclose(table["score"], choice.scores, atol=1e-5)
    np.testing.assert_allclose(table["reference"], choice.reference, atol=1e-5)
    assert table["k"][table["chosen"] > 0].tolist() == [choice.k]
    np.testing.assert_allclose(table["ari"], choice.ari, atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["k_choice.csv"]
