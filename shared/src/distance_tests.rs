use super::*;
use proptest::prelude::*;

/// One hand-computed distance case.
struct DistanceCase {
    name: &'static str,
    a: &'static [f32],
    b: &'static [f32],
    squared: f32,
    euclidean: f32,
}

const fn case(
    name: &'static str,
    a: &'static [f32],
    b: &'static [f32],
    squared: f32,
    euclidean: f32,
) -> DistanceCase {
    DistanceCase {
        name,
        a,
        b,
        squared,
        euclidean,
    }
}

/// ‖a−b‖² and ‖a−b‖, by hand.
const F32_TABLE: &[DistanceCase] = &[
    case("identical", &[0.5, -0.5, 2.0], &[0.5, -0.5, 2.0], 0.0, 0.0),
    case("3-4-5", &[0.0, 0.0], &[3.0, 4.0], 25.0, 5.0),
    case("zero vectors", &[0.0, 0.0, 0.0], &[0.0, 0.0, 0.0], 0.0, 0.0),
    case("opposite units", &[1.0, 0.0], &[-1.0, 0.0], 4.0, 2.0),
    case("single element", &[-7.0], &[5.0], 144.0, 12.0),
];

#[test]
fn f32_distance_table() {
    for c in F32_TABLE {
        let (sq, l) = (c.squared, c.euclidean);
        let got_sq = squared_l2(c.a, c.b).unwrap();
        let got_l = l2(c.a, c.b).unwrap();
        assert!(
            (got_sq - sq).abs() <= sq * 1e-6,
            "{}: ‖a−b‖² = {got_sq}, want {sq}",
            c.name
        );
        assert!(
            (got_l - l).abs() <= l * 1e-6,
            "{}: ‖a−b‖ = {got_l}, want {l}",
            c.name
        );
    }
}

/// (name, a, b, cosine similarity).
const COSINE_TABLE: &[(&str, &[f32], &[f32], f32)] = &[
    ("identical", &[0.3, 0.4], &[0.3, 0.4], 1.0),
    ("scaled copy", &[1.0, 2.0, 2.0], &[2.0, 4.0, 4.0], 1.0),
    ("orthogonal", &[1.0, 0.0], &[0.0, 5.0], 0.0),
    ("opposite", &[1.0, 1.0], &[-2.0, -2.0], -1.0),
    (
        "45 degrees",
        &[1.0, 0.0],
        &[1.0, 1.0],
        core::f32::consts::FRAC_1_SQRT_2,
    ),
    ("very large", &[3.0e30, 4.0e30], &[3.0e30, 4.0e30], 1.0),
];

#[test]
fn cosine_table() {
    for &(name, a, b, want) in COSINE_TABLE {
        let got = cosine_similarity(a, b).unwrap();
        assert!(
            (got - want).abs() <= 1e-6,
            "{name}: cos = {got}, want {want}"
        );
        let dist = cosine_distance(a, b).unwrap();
        assert!(
            (dist - (1.0 - want)).abs() <= 1e-6,
            "{name}: cosine distance {dist}"
        );
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    assert_eq!(
        squared_l2(&[1.0], &[1.0, 2.0]),
        Err(DistanceError::LengthMismatch { left: 1, right: 2 })
    );
    assert_eq!(squared_l2(&[], &[]), Err(DistanceError::Empty));
    assert_eq!(
        squared_l2(&[f32::NAN], &[0.0]),
        Err(DistanceError::NonFinite)
    );
    assert_eq!(
        squared_l2(&[f32::MAX], &[-f32::MAX]),
        Err(DistanceError::NonFinite)
    );
    assert_eq!(
        cosine_similarity(&[0.0, 0.0], &[1.0, 0.0]),
        Err(DistanceError::ZeroVector)
    );
    assert_eq!(
        cosine_similarity(&[1.0, 0.0], &[0.0, 0.0]),
        Err(DistanceError::ZeroVector)
    );
    assert_eq!(squared_l2_i8(&[], &[]), Err(DistanceError::Empty));
    let long = [1i8; MAX_I8_LEN + 1];
    assert_eq!(
        squared_l2_i8(&long, &long),
        Err(DistanceError::TooLong {
            len: MAX_I8_LEN + 1,
            max: MAX_I8_LEN
        })
    );
    assert_eq!(
        cosine_similarity_i8(&[0, 0], &[1, 1]),
        Err(DistanceError::ZeroVector)
    );
}

#[test]
fn normalising_a_zero_vector_is_an_error_and_leaves_it_alone() {
    let mut v = [0.0f32; 4];
    assert_eq!(l2_normalize(&mut v), Err(DistanceError::ZeroVector));
    assert_eq!(v, [0.0; 4]);
    let mut nan = [f32::NAN, 1.0];
    assert_eq!(l2_normalize(&mut nan), Err(DistanceError::NonFinite));
}

#[test]
fn normalise_table() {
    let mut v = [3.0f32, 4.0];
    l2_normalize(&mut v).unwrap();
    assert_eq!(v, [0.6, 0.8]);
    let mut tiny = [1.0e-20f32, 0.0];
    l2_normalize(&mut tiny).unwrap();
    assert_eq!(tiny, [1.0, 0.0]);
}

#[test]
fn i8_extremes_do_not_overflow() {
    // The worst case for every term: 127 − (−128) = 255.
    let a = [127i8; 512];
    let b = [-128i8; 512];
    assert_eq!(squared_l2_i8(&a, &b), Ok(512 * 255 * 255));
    let a = [127i8; MAX_I8_LEN];
    let b = [-128i8; MAX_I8_LEN];
    assert_eq!(squared_l2_i8(&a, &b), Ok(MAX_I8_LEN as i32 * 255 * 255));
    assert_eq!(dot_i8(&[-128; 512], &[-128; 512]), Ok(512 * 128 * 128));
    assert_eq!(l2_i8(&[0, 0], &[3, 4]), Ok(5.0));
    assert_eq!(cosine_similarity_i8(&[100, 0], &[-50, 0]), Ok(-1.0));
}

fn vec_pair(max_len: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (1..max_len).prop_flat_map(|n| {
        (
            prop::collection::vec(-100.0f32..100.0, n),
            prop::collection::vec(-100.0f32..100.0, n),
        )
    })
}

proptest! {
    #[test]
    fn l2_is_symmetric((a, b) in vec_pair(64)) {
        prop_assert_eq!(l2(&a, &b).unwrap(), l2(&b, &a).unwrap());
    }

    #[test]
    fn l2_triangle_inequality(
        (a, b, c) in (1usize..64).prop_flat_map(|n| (
            prop::collection::vec(-100.0f32..100.0, n),
            prop::collection::vec(-100.0f32..100.0, n),
            prop::collection::vec(-100.0f32..100.0, n),
        ))
    ) {
        let (ab, bc, ac) = (l2(&a, &b).unwrap(), l2(&b, &c).unwrap(), l2(&a, &c).unwrap());
        // Allow float rounding: a few ulps of the largest side.
        prop_assert!(ac <= ab + bc + 4.0 * f32::EPSILON * (ab + bc + ac));
    }

    /// For integer-valued vectors up to length 256 every partial sum stays below 2²⁴, where
    /// f32 is exact: the i8 distance must equal the f32 distance bit for bit.
    #[test]
    fn i8_distance_equals_f32_distance_of_the_same_integers(
        (a, b) in (1usize..=256).prop_flat_map(|n| (
            prop::collection::vec(any::<i8>(), n),
            prop::collection::vec(any::<i8>(), n),
        ))
    ) {
        let af: Vec<f32> = a.iter().map(|&x| f32::from(x)).collect();
        let bf: Vec<f32> = b.iter().map(|&x| f32::from(x)).collect();
        prop_assert_eq!(squared_l2_i8(&a, &b).unwrap() as f32, squared_l2(&af, &bf).unwrap());
        prop_assert_eq!(dot_i8(&a, &b).unwrap() as f32, dot(&af, &bf).unwrap());
    }

    #[test]
    fn normalised_vectors_have_unit_norm((mut a, _b) in vec_pair(256)) {
        if l2_normalize(&mut a).is_ok() {
            prop_assert!((norm(&a).unwrap() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn cosine_is_bounded_and_symmetric((a, b) in vec_pair(64)) {
        if let (Ok(ab), Ok(ba)) = (cosine_similarity(&a, &b), cosine_similarity(&b, &a)) {
            prop_assert!((-1.0..=1.0).contains(&ab));
            prop_assert!((ab - ba).abs() <= 1e-6);
        }
    }
}
