//! Scratch space shared by the placement walks.

/// "Seen" marks for nodes and racks during one walk, reset in O(1) by bumping a stamp instead of
/// clearing the arrays.
#[derive(Clone, Debug)]
pub(crate) struct Scratch {
    node_mark: Vec<u32>,
    rack_mark: Vec<u32>,
    stamp: u32,
}

impl Scratch {
    pub(crate) fn new(nodes: usize, racks: usize) -> Self {
        Scratch {
            node_mark: vec![0; nodes],
            rack_mark: vec![0; racks],
            stamp: 0,
        }
    }

    /// A fresh stamp: nothing is marked with it yet.
    pub(crate) fn next_stamp(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.node_mark.fill(0);
            self.rack_mark.fill(0);
            self.stamp = 1;
        }
        self.stamp
    }

    /// Marks `node` seen in the walk `stamp`; false when it already was.
    pub(crate) fn mark_node(&mut self, node: u32, stamp: u32) -> bool {
        mark(&mut self.node_mark, node, stamp)
    }

    /// Marks `rack` seen in the walk `stamp`; false when it already was.
    pub(crate) fn mark_rack(&mut self, rack: u32, stamp: u32) -> bool {
        mark(&mut self.rack_mark, rack, stamp)
    }
}

fn mark(marks: &mut Vec<u32>, i: u32, stamp: u32) -> bool {
    let i = i as usize;
    if i >= marks.len() {
        marks.resize(i + 1, 0);
    }
    match marks.get_mut(i) {
        Some(m) if *m != stamp => {
            *m = stamp;
            true
        }
        _ => false,
    }
}
