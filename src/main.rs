//! The `negstudy` command line: parse arguments, hand them to the library,
//! print the one error if any. Everything else lives in `negstudy::commands`.

use clap::Parser;
use negstudy::commands::{self, Cli};

/// How the process stops when told to: SIGINT, SIGTERM and SIGHUP remove
/// the temporaries of writes in progress, then exit with 128 + the signal;
/// SIGXFSZ (a file-size limit reached) is ignored, so the write fails with
/// an error that names the file and is cleaned up like any other; SIGPIPE
/// (the reader of stdout went away, as `negstudy … | head` does) ends the
/// process quietly, as it ends `cat`, instead of a panic in `println!`.
fn stop_cleanly() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                negstudy::atomic::remove_in_progress();
                std::process::exit(128 + signal);
            }
        });
    }
    // SAFETY: setting a signal's disposition to "ignore" has no
    // preconditions; no handler code runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    stop_cleanly();
    let cli = Cli::parse();
    if let Err(err) = commands::run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
