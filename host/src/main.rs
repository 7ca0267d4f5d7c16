//! `facegate`: the host command line.
use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "facegate",
    version,
    about = "Face verification for microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the known-answer self-test values the firmware prints at boot.
    Selftest,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Selftest => {
            for a in facegate_shared::selftest::known_answers() {
                println!(
                    "selftest {} {} 0x{:08x}",
                    a.name,
                    a.value,
                    a.value.to_bits()
                );
            }
        }
    }
    Ok(())
}
