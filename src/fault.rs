//! Test-only faults in the engines' load paths, built only with the cargo
//! feature `fault-injection` (never by default).
//!
//! A zone holding a TXT record whose text is one of these makes the engine
//! that loads it misbehave, as a bad push would:
//!
//! - `stripedns:crash-on-load`: abort the process;
//! - `stripedns:hang-on-load`: spin forever;
//! - `stripedns:balloon-on-load`: allocate (and touch) memory without
//!   bound.
//!
//! Each engine calls [`on_load_txt`] with the text of every TXT string it
//! loads. The tests of the taster and the pipeline use these; nothing else
//! does. Only the pipeline's `foodtaster` runs under limits: `stripedns
//! check` and `serve` on such a bundle really crash, hang or balloon.

/// React to one TXT string of a zone being loaded.
pub fn on_load_txt(text: &[u8]) {
    match text {
        b"stripedns:crash-on-load" => {
            eprintln!("fault injection: crash-on-load");
            std::process::abort();
        }
        b"stripedns:hang-on-load" => {
            eprintln!("fault injection: hang-on-load");
            loop {
                std::hint::spin_loop();
            }
        }
        b"stripedns:balloon-on-load" => {
            eprintln!("fault injection: balloon-on-load");
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                // Touched, so the memory is really used, not only reserved.
                held.push(vec![0x5A; 16 << 20]);
                std::hint::black_box(&held);
            }
        }
        _ => {}
    }
}
