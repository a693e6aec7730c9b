use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = stagesync::cli::Cli::parse();
    stagesync::cli::run(cli, &mut std::io::stdout().lock())?;
    Ok(())
}
