//! The `negstudy` command line: parse arguments, hand them to the library,
//! print the one error if any. Everything else lives in `negstudy::commands`.

use clap::Parser;
use negstudy::commands::{self, Cli};

fn main() {
    let cli = Cli::parse();
    if let Err(err) = commands::run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
