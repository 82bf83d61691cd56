//! `charts-render`: render a Helm chart as `helm template` would, or list its images.

use std::path::PathBuf;
use std::process::ExitCode;

use charts_render::{ChartSource, Options};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "charts-render",
    version,
    about = "Render Helm charts natively and list the images they deploy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the rendered manifests, as `helm template` does.
    Template(Common),
    /// Print every image the chart deploys, one qualified reference per line.
    Images(Common),
}

#[derive(Args)]
struct Common {
    /// Release name and chart (`template NAME CHART`), or just the chart.
    #[arg(num_args = 1..=2, required = true, value_names = ["NAME", "CHART"])]
    args: Vec<String>,
    /// Set a value (`a.b[0].c=x`); may repeat, and take comma-separated assignments.
    #[arg(long = "set", value_name = "K=V")]
    set: Vec<String>,
    /// Set a string value; may repeat.
    #[arg(long = "set-string", value_name = "K=V")]
    set_string: Vec<String>,
    /// A values file; may repeat (later files win).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    values: Vec<PathBuf>,
    /// Chart version or semver constraint (newest when absent).
    #[arg(long)]
    version: Option<String>,
    /// Chart repository URL (`https://...` or `oci://...`).
    #[arg(long)]
    repo: Option<String>,
    /// Release namespace.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Kubernetes version for `.Capabilities.KubeVersion`.
    #[arg(long, default_value = "v1.32.0")]
    kube_version: String,
    /// Extra API versions for `.Capabilities.APIVersions`; may repeat.
    #[arg(short = 'a', long = "api-versions")]
    api_versions: Vec<String>,
    /// Where to cache downloaded charts (default: ~/.cache/charts-render).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// `template`: leave out test hooks, as `helm template --skip-tests` does
    /// (`images` always leaves them out).
    #[arg(long)]
    skip_tests: bool,
}

impl Common {
    fn split(self, template: bool) -> (ChartSource, Options) {
        let (name, chart) = match self.args.as_slice() {
            [chart] => ("release-name".to_string(), chart.clone()),
            [name, chart, ..] => (name.clone(), chart.clone()),
            [] => unreachable!("clap requires one argument"),
        };
        let src = ChartSource {
            repo: self.repo,
            name: chart,
            version: self.version.unwrap_or_default(),
            values: None,
            values_files: self.values,
            set: self.set,
            set_string: self.set_string,
        };
        let mut opts = Options::default();
        if self.cache_dir.is_some() {
            opts.cache_dir = self.cache_dir;
        }
        opts.render.release_name = name;
        opts.render.namespace = self.namespace;
        opts.render.kube_version = self.kube_version;
        opts.render.api_versions = self.api_versions;
        opts.include_tests = template && !self.skip_tests;
        (src, opts)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Template(c) => {
            let (src, opts) = c.split(true);
            charts_render::template(&src, &opts).await
        }
        Command::Images(c) => {
            let (src, opts) = c.split(false);
            charts_render::images(&src, &opts)
                .await
                .map(|refs| refs.iter().map(|r| format!("{r}\n")).collect())
        }
    };
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
