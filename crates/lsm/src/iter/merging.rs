//! [`MergingCursor`]: one ordered walk over several child cursors.

use std::cmp::Ordering;

use super::cursor::Cursor;
use crate::error::Result;
use crate::key;

/// Merges child cursors. Positioned in one direction at a time: forward after `seek` /
/// `seek_to_first`, backward after `seek_for_prev` / `seek_to_last`.
pub(crate) struct MergingCursor {
    children: Vec<Box<dyn Cursor>>,
    current: Option<usize>,
    forward: bool,
}

impl MergingCursor {
    pub(crate) fn new(children: Vec<Box<dyn Cursor>>) -> MergingCursor {
        MergingCursor {
            children,
            current: None,
            forward: true,
        }
    }

    fn pick(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best.and_then(|b| self.children.get(b).map(|bc| (b, bc))) {
                None => Some(i),
                Some((b, bc)) => {
                    let ord = key::compare(c.key(), bc.key());
                    let better = if self.forward {
                        ord == Ordering::Less
                    } else {
                        ord == Ordering::Greater
                    };
                    Some(if better { i } else { b })
                }
            };
        }
        self.current = best;
    }

    fn cur(&self) -> Option<&dyn Cursor> {
        self.current
            .and_then(|i| self.children.get(i))
            .map(|c| c.as_ref())
    }
}

impl Cursor for MergingCursor {
    fn seek(&mut self, target: &[u8]) {
        self.forward = true;
        for c in &mut self.children {
            c.seek(target);
        }
        self.pick();
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.forward = false;
        for c in &mut self.children {
            c.seek_for_prev(target);
        }
        self.pick();
    }
    fn seek_to_first(&mut self) {
        self.forward = true;
        for c in &mut self.children {
            c.seek_to_first();
        }
        self.pick();
    }
    fn seek_to_last(&mut self) {
        self.forward = false;
        for c in &mut self.children {
            c.seek_to_last();
        }
        self.pick();
    }
    fn next(&mut self) {
        if !self.forward {
            // Direction change: re-seek every child just after the current key.
            let Some(k) = self.cur().map(|c| c.key().to_vec()) else {
                return;
            };
            self.seek(&k);
            if self.valid() && self.key() == k.as_slice() {
                self.next();
            }
            return;
        }
        if let Some(c) = self.current.and_then(|i| self.children.get_mut(i)) {
            c.next();
        }
        self.pick();
    }
    fn prev(&mut self) {
        if self.forward {
            let Some(k) = self.cur().map(|c| c.key().to_vec()) else {
                return;
            };
            self.seek_for_prev(&k);
            if self.valid() && self.key() == k.as_slice() {
                self.prev();
            }
            return;
        }
        if let Some(c) = self.current.and_then(|i| self.children.get_mut(i)) {
            c.prev();
        }
        self.pick();
    }
    fn valid(&self) -> bool {
        self.cur().is_some_and(|c| c.valid())
    }
    fn key(&self) -> &[u8] {
        self.cur().map_or(&[], |c| c.key())
    }
    fn value(&self) -> &[u8] {
        self.cur().map_or(&[], |c| c.value())
    }
    fn status(&self) -> Result<()> {
        for c in &self.children {
            c.status()?;
        }
        Ok(())
    }
}
