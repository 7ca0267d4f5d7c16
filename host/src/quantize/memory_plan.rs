//! The static activation arena: every tensor's byte offset, chosen at quantisation time.
//!
//! Tensors that alias (an in-place layer's output over its input) form one buffer. A buffer is
//! live from the layer that writes it to the last layer that reads it; two buffers whose lives
//! overlap must not overlap in memory. Buffers are placed largest first at the lowest 4-aligned
//! offset that conflicts with no live-overlapping buffer already placed (TFLite-Micro's "greedy
//! by size" planner).

/// One buffer to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    /// Bytes.
    pub size: usize,
    /// First layer that writes it (the input buffer: 0).
    pub first: usize,
    /// Last layer that reads it.
    pub last: usize,
}

/// Alignment of every buffer.
pub const ALIGN: usize = 4;

/// Offsets of `buffers` (same order) and the arena size.
pub fn plan(buffers: &[Buffer]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(buffers[i].size), i));
    let mut offsets = vec![usize::MAX; buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    for &i in &order {
        let b = buffers[i];
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].first <= b.last && b.first <= buffers[j].last)
            .map(|&j| (offsets[j], offsets[j] + buffers[j].size))
            .collect();
        conflicts.sort_unstable();
        let mut offset = 0;
        for (start, end) in conflicts {
            if offset + b.size <= start {
                break;
            }
            offset = offset.max(end.next_multiple_of(ALIGN));
        }
        offsets[i] = offset;
        placed.push(i);
    }
    let size = buffers
        .iter()
        .zip(&offsets)
        .map(|(b, &o)| o + b.size)
        .max()
        .unwrap_or(0);
    (offsets, size.next_multiple_of(ALIGN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_reuses_memory_and_live_buffers_never_overlap() {
        // in → a → b → c: only neighbours are live together.
        let buffers = [
            Buffer {
                size: 100,
                first: 0,
                last: 1,
            },
            Buffer {
                size: 200,
                first: 1,
                last: 2,
            },
            Buffer {
                size: 100,
                first: 2,
                last: 3,
            },
            Buffer {
                size: 50,
                first: 3,
                last: 3,
            },
        ];
        let (offsets, size) = plan(&buffers);
        assert_eq!(size, 300, "peak is the largest neighbouring pair");
        for i in 0..buffers.len() {
            for j in i + 1..buffers.len() {
                let (a, b) = (buffers[i], buffers[j]);
                if a.first <= b.last && b.first <= a.last {
                    let disjoint =
                        offsets[i] + a.size <= offsets[j] || offsets[j] + b.size <= offsets[i];
                    assert!(
                        disjoint,
                        "buffers {i} and {j} are live together and overlap"
                    );
                }
            }
        }
        assert!(offsets.iter().all(|o| o % ALIGN == 0));
    }

    #[test]
    fn a_residual_keeps_its_input_alive() {
        let buffers = [
            Buffer {
                size: 64,
                first: 0,
                last: 2,
            }, // x, read again by the add
            Buffer {
                size: 64,
                first: 1,
                last: 2,
            }, // branch
            Buffer {
                size: 64,
                first: 2,
                last: 3,
            }, // out
        ];
        let (_, size) = plan(&buffers);
        assert_eq!(size, 192);
    }
}
