//! `linearizability [FILE]`: checks a JSON history of register operations (a list of
//! `ilion_sim::linearizability::Operation`, read from FILE or stdin). Exit code 0 and a summary
//! when it is linearizable; 1 and the violation when it is not; 2 when the input is unreadable.
//!
//! ```text
//! [{"client": 0, "key": 1, "call": 10, "ret": 20, "op": "cas", "expected": null, "new": 1, "applied": true},
//!  {"client": 1, "key": 1, "call": 30, "ret": null, "op": "read", "value": null}]
//! ```

use std::io::Read;
use std::process::ExitCode;

use ilion_sim::linearizability::{Operation, check};

fn main() -> ExitCode {
    let mut text = String::new();
    let read = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path).map(|t| text = t),
        None => std::io::stdin().read_to_string(&mut text).map(|_| ()),
    };
    if let Err(e) = read {
        eprintln!("cannot read the history: {e}");
        return ExitCode::from(2);
    }
    let history: Vec<Operation> = match serde_json::from_str(&text) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("not a history: {e}");
            return ExitCode::from(2);
        }
    };
    match check(&history) {
        Ok(()) => {
            println!("linearizable: {} operations", history.len());
            ExitCode::SUCCESS
        }
        Err(v) => {
            println!("NOT linearizable: {v}");
            ExitCode::from(1)
        }
    }
}
