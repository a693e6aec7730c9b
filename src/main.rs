use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = stagesync::cli::Cli::parse();
    stagesync::cli::run(cli, &mut std::io::stdout()).await
}
