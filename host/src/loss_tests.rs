use super::*;
use crate::mining::{mine, Miner};
use crate::model::l2_normalize_rows;
use crate::tensors::{floats, pairwise_squared_distances, to_f32};
use facegate_shared::{distance, loss as reference};
use rand::{Rng, SeedableRng};

/// A random batch of L2-normalised embeddings, P people × K images, and its labels.
fn batch(
    seed: u64,
    people: usize,
    per_person: usize,
    dim: usize,
) -> (Tensor<2>, Vec<Vec<f32>>, Vec<u32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let b = people * per_person;
    let raw: Vec<f32> = (0..b * dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let device = Device::flex();
    let e = l2_normalize_rows(floats(raw, [b, dim], &device));
    let rows = to_f32(e.clone()).chunks(dim).map(<[f32]>::to_vec).collect();
    let labels = (0..b).map(|i| (i / per_person) as u32).collect();
    (e, rows, labels)
}

fn scalar(t: Tensor<1>) -> f32 {
    to_f32(t)[0]
}

fn assert_close(got: f32, want: f32, what: &str) {
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{what}: tensor {got}, reference {want}"
    );
}

/// The reference mean of `f(d_ap, d_an)` over the triplets, distances from `facegate-shared`.
fn reference_mean(
    rows: &[Vec<f32>],
    t: &Triplets,
    squared: bool,
    f: impl Fn(f32, f32) -> f32,
) -> f32 {
    let dist = |i: usize, j: usize| {
        let d2 = distance::squared_l2(&rows[i], &rows[j]).unwrap();
        if squared {
            d2
        } else {
            d2.sqrt()
        }
    };
    let sum: f32 = (0..t.len())
        .map(|i| {
            f(
                dist(t.anchors[i], t.positives[i]),
                dist(t.anchors[i], t.negatives[i]),
            )
        })
        .sum();
    sum / t.len() as f32
}

#[test]
fn triplet_losses_match_the_scalar_references_on_random_batches() {
    for seed in 0..5 {
        let (e, rows, labels) = batch(seed, 6, 3, 8);
        let sq = pairwise_squared_distances(e);
        for miner in [
            Miner::SemiHard,
            Miner::BatchHard,
            Miner::BatchAll,
            Miner::Random,
        ] {
            let t = mine(miner, sq.clone(), &labels, 0.2, seed);
            let Some(d) = TripletDistances::gather(sq.clone(), &t) else {
                continue;
            };
            let what = format!("seed {seed}, {miner:?}");
            assert_close(
                scalar(triplet_hinge(&d, 0.2)),
                reference_mean(&rows, &t, true, |p, n| reference::triplet_hinge(p, n, 0.2)),
                &format!("hinge, {what}"),
            );
            assert_close(
                scalar(softmax_ratio_mse(&d)),
                reference_mean(&rows, &t, false, reference::softmax_ratio_mse),
                &format!("softmax-ratio MSE, {what}"),
            );
            assert_close(
                scalar(softmax_ratio_nll(&d)),
                reference_mean(&rows, &t, false, reference::softmax_ratio_nll),
                &format!("softmax-ratio NLL, {what}"),
            );
            assert_close(
                scalar(soft_margin(&d)),
                reference_mean(&rows, &t, false, reference::soft_margin_triplet),
                &format!("soft margin, {what}"),
            );
        }
    }
}

#[test]
fn contrastive_matches_the_scalar_reference_on_random_batches() {
    for seed in 0..5 {
        let (e, rows, labels) = batch(seed, 5, 2, 8);
        let margin = 1.0;
        let got = scalar(contrastive(pairwise_squared_distances(e), &labels, margin));
        let (mut same, mut diff) = (Vec::new(), Vec::new());
        for i in 0..rows.len() {
            for j in i + 1..rows.len() {
                let d = distance::l2(&rows[i], &rows[j]).unwrap();
                if labels[i] == labels[j] {
                    same.push(reference::contrastive(
                        d,
                        reference::PairLabel::Similar,
                        margin,
                    ));
                } else {
                    diff.push(reference::contrastive(
                        d,
                        reference::PairLabel::Dissimilar,
                        margin,
                    ));
                }
            }
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert_close(
            got,
            mean(&same) + mean(&diff),
            &format!("contrastive, seed {seed}"),
        );
    }
}

#[test]
fn losses_have_gradients() {
    let device = Device::flex().autodiff();
    let (e, _, labels) = batch(3, 4, 2, 8);
    let x = Tensor::<2>::from_data(e.into_data(), &device).require_grad();
    let sq = pairwise_squared_distances(x.clone());
    let t = mine(Miner::BatchAll, sq.clone(), &labels, 0.2, 0);
    let d = TripletDistances::gather(sq, &t).unwrap();
    let grads = triplet_hinge(&d, 0.2).backward();
    let g = x.grad(&grads).expect("gradient w.r.t. the embeddings");
    assert!(to_f32(g).iter().any(|v| v.abs() > 0.0));
}
