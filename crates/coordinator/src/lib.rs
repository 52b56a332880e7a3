//! `ilion-coordinator`: schema, statement execution and the distributed read and write paths.
//!
//! Being built (issues #8 and #9).
