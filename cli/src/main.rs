//! `khaibao`: declare provinces and communes as tenants of shared national platforms.
//! Offline commands (validate, render, test, explain, lint) need no cluster; they run the same
//! pipeline as the operator. Exit codes: 0 ok, 1 invalid input or failed tests, 2 usage errors
//! and unreadable files.

// Reports carry both languages; they travel only on the failing path.
#![allow(clippy::result_large_err)]

mod cluster;
mod commands;
mod fleet;
mod input;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use khaibao::diagnostics::Lang;

// Rendering thousands of tenants is allocation-bound (JSON values, YAML events); mimalloc
// roughly halves that cost compared with the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "khaibao", version, about = "Declare provinces and communes as tenants of shared national platforms", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct Global {
    /// Folder of platforms (one sub-folder per platform)
    #[arg(long, global = true, value_name = "DIR")]
    platforms: Option<PathBuf>,
    /// Language of messages: en or vi (default: from LANG)
    #[arg(long, global = true, value_name = "LANG")]
    lang: Option<String>,
}

impl Global {
    pub fn lang(&self) -> Lang {
        if let Some(l) = &self.lang {
            return Lang::from_tag(l);
        }
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .map(|v| Lang::from_tag(&v))
            .unwrap_or_default()
    }

    pub fn platforms_dir(&self) -> (PathBuf, bool) {
        match &self.platforms {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("platforms"), false),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check tenants and platforms; print every problem as FILE:LINE:COL
    Validate {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Print the objects the tenants become (generated secret values are never printed)
    Render {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
        /// Also print each platform's shared objects
        #[arg(long)]
        include_shared: bool,
    },
    /// Run one test case per tenant: validate, render, policy and expected outputs
    Test {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Write a JUnit XML report
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the rendered output as the expected output (<tenant>.expected.yaml)
        #[arg(long)]
        update: bool,
    },
    /// Show each effective value of a tenant and the layer that set it
    Explain {
        #[arg(value_name = "TENANT_FILE")]
        file: PathBuf,
        /// Only values under this path, e.g. theme.color
        #[arg(value_name = "VALUE_PATH")]
        value_path: Option<String>,
    },
    /// Validate locally, then create or update Namespaces, Platforms (with their admission
    /// policy) and Tenants in the cluster
    Apply {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Ask the API server to check everything without saving it
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Show what applying would change in the cluster (exit 1 when something would); with
    /// --offline, what a platform change does to every tenant, without a cluster
    Diff {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Compare two versions of a platform instead of the cluster
        #[arg(long, requires_all = ["platform_from", "platform_to"])]
        offline: bool,
        /// The platform folder as it is now
        #[arg(long, value_name = "DIR", requires = "offline")]
        platform_from: Option<PathBuf>,
        /// The platform folder as it will be
        #[arg(long, value_name = "DIR", requires = "offline")]
        platform_to: Option<PathBuf>,
        /// With --offline: a unified diff per tenant, not only the summary
        #[arg(long)]
        details: bool,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Tenants by condition per platform, and every tenant that is not Ready
    Status {
        #[arg(long)]
        platform: Option<String>,
        /// Every tenant of one province (the province and its communes)
        #[arg(long, value_name = "CODE")]
        province: Option<String>,
        #[arg(short, long, value_enum, default_value_t = StatusFormat::Table)]
        output: StatusFormat,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Write the national picture as one self-contained HTML page
    Report {
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
        #[arg(long)]
        platform: Option<String>,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Confirm a change held for its blast radius (a rollout deleting objects everywhere, a
    /// TenantSet shrink deleting many tenants)
    Approve {
        #[command(subcommand)]
        what: ApproveWhat,
    },
    /// Follow and steer a platform's rollout: status, pause, resume, undo
    Rollout {
        #[command(subcommand)]
        action: RolloutAction,
    },
    /// Province self-service: namespaces and permissions
    Province {
        #[command(subcommand)]
        action: ProvinceAction,
    },
    /// Print the CustomResourceDefinitions
    Crds,
    /// Work on a platform folder
    Platform {
        #[command(subcommand)]
        action: PlatformAction,
    },
    /// List official administrative units
    Units {
        #[arg(long, default_value = "34")]
        division: String,
        /// Only the communes of this province
        #[arg(long, value_name = "CODE")]
        province: Option<String>,
        /// One unit's names in every edition, what it became and what it was made from
        /// (2 digits: a province, 5 digits: a commune)
        #[arg(long, value_name = "CODE", conflicts_with = "province")]
        history: Option<String>,
        #[arg(short, long, value_enum, default_value_t = UnitsFormat::Table)]
        output: UnitsFormat,
    },
    /// Plan a change of administrative units (the 2025 reform) as a migration of tenants
    Reform {
        #[command(subcommand)]
        action: ReformAction,
    },
    /// Generate declarations
    Generate {
        #[command(subcommand)]
        what: GenerateWhat,
    },
    /// Print shell completions
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum ReformAction {
    /// Successor Tenants and TenantSets for the new division, each carrying spec.predecessors,
    /// values merged (the predecessor whose code the new unit reuses wins), every difference
    /// listed as a conflict. Exit 0 complete, 1 conflicts or unmapped units open, 2 usage
    Plan(Box<commands::reform::PlanArgs>),
}

#[derive(Subcommand)]
enum ProvinceAction {
    /// Let GROUP manage Tenants and TenantSets in tinh-CODE (and only there)
    Grant {
        code: String,
        #[arg(long)]
        group: String,
        #[arg(long, default_value = "34")]
        division: String,
        /// Print the objects instead of applying them
        #[arg(long)]
        print: bool,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
}

#[derive(Subcommand)]
enum ApproveWhat {
    /// Approve the rollout waiting for approval
    Platform {
        name: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Confirm the prune the TenantSet holds
    Tenantset {
        name: String,
        #[arg(short, long)]
        namespace: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Approve the retirements of a reform plan held by the blast-radius guard
    Reform {
        /// The plan's id (khaibao.dev/reform-plan on its successors)
        id: String,
        #[arg(long)]
        platform: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
}

#[derive(Subcommand)]
enum RolloutAction {
    /// Waves, progress, failures and ETA of the platform's rollout
    Status {
        platform: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Start no new wave until resumed
    Pause {
        platform: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Continue a paused rollout
    Resume {
        platform: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
    /// Go back to the previous revision (in waves; at once for an unfinished rollout)
    Undo {
        platform: String,
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
    },
}

#[derive(Subcommand)]
enum PlatformAction {
    /// Check a platform: schema, defaults, templates, samples, policy
    Lint { dir: PathBuf },
    /// Print the Platform with its templates inlined, ready for kubectl apply
    Build { dir: PathBuf },
    /// Print a ValidatingAdmissionPolicy that refuses out-of-schema tenant values at apply time
    Admission { dir: PathBuf },
}

#[derive(Subcommand)]
enum GenerateWhat {
    /// Write Tenant YAML for official units (province namespaces are tinh-<code>)
    Tenants {
        #[arg(long)]
        platform: String,
        #[arg(long, value_enum)]
        level: LevelArg,
        /// Only this province (its communes, for --level commune)
        #[arg(long, value_name = "CODE")]
        province: Option<String>,
        #[arg(long, default_value = "34")]
        division: String,
        /// Write one file per tenant into this folder instead of stdout
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StatusFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum UnitsFormat {
    Table,
    Csv,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LevelArg {
    Province,
    Commune,
}

/// Dies quietly when stdout is closed early (`khaibao units | head`), as command-line tools do,
/// instead of panicking in `println!` on the broken pipe.
fn reset_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; restores the default
    // disposition that the Rust runtime changed to "ignore".
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    reset_sigpipe();
    let cli = Cli::parse();
    let g = &cli.global;
    let code = match cli.command {
        Command::Validate { paths } => commands::validate::run(g, &paths),
        Command::Render {
            paths,
            output,
            include_shared,
        } => commands::render::run(g, &paths, output, include_shared),
        Command::Test {
            paths,
            junit,
            update,
        } => commands::test::run(g, &paths, junit.as_deref(), update),
        Command::Explain { file, value_path } => {
            commands::explain::run(g, &file, value_path.as_deref())
        }
        Command::Apply {
            paths,
            dry_run,
            cluster,
        } => cluster::apply::run(g, &cluster, &paths, dry_run),
        Command::Diff {
            paths,
            offline: true,
            platform_from: Some(from),
            platform_to: Some(to),
            details,
            ..
        } => commands::fleet_diff::run(g, &from, &to, &paths, details),
        Command::Diff { paths, cluster, .. } => cluster::diff::run(g, &cluster, &paths),
        Command::Status {
            platform,
            province,
            output,
            cluster,
        } => cluster::status::run(
            g,
            &cluster,
            platform.as_deref(),
            province.as_deref(),
            output,
        ),
        Command::Province {
            action:
                ProvinceAction::Grant {
                    code,
                    group,
                    division,
                    print,
                    cluster,
                },
        } => cluster::province::grant(g, &cluster, &code, &group, &division, print),
        Command::Report {
            html,
            platform,
            cluster,
        } => cluster::report::run(g, &cluster, platform.as_deref(), &html),
        Command::Approve { what } => match what {
            ApproveWhat::Platform { name, cluster } => {
                cluster::approve::run(g, &cluster, cluster::approve::Target::Platform(name))
            }
            ApproveWhat::Tenantset {
                name,
                namespace,
                cluster,
            } => cluster::approve::run(
                g,
                &cluster,
                cluster::approve::Target::TenantSet { namespace, name },
            ),
            ApproveWhat::Reform {
                id,
                platform,
                cluster,
            } => cluster::approve::run(
                g,
                &cluster,
                cluster::approve::Target::Reform { platform, plan: id },
            ),
        },
        Command::Rollout { action } => {
            use cluster::rollout::Action;
            let (action, platform, cluster) = match action {
                RolloutAction::Status { platform, cluster } => (Action::Status, platform, cluster),
                RolloutAction::Pause { platform, cluster } => (Action::Pause, platform, cluster),
                RolloutAction::Resume { platform, cluster } => (Action::Resume, platform, cluster),
                RolloutAction::Undo { platform, cluster } => (Action::Undo, platform, cluster),
            };
            cluster::rollout::run(g, &cluster, action, &platform)
        }
        Command::Crds => commands::crds::run(),
        Command::Platform {
            action: PlatformAction::Lint { dir },
        } => commands::platform::lint(g, &dir),
        Command::Platform {
            action: PlatformAction::Build { dir },
        } => commands::platform::build(g, &dir),
        Command::Platform {
            action: PlatformAction::Admission { dir },
        } => commands::platform::admission(g, &dir),
        Command::Reform {
            action: ReformAction::Plan(args),
        } => commands::reform::plan_command(g, &args),
        Command::Units {
            division,
            province,
            history: None,
            output,
        } => commands::units::run(g, &division, province.as_deref(), output),
        Command::Units {
            history: Some(code),
            output,
            ..
        } => commands::units::history(g, &code, output),
        Command::Generate {
            what:
                GenerateWhat::Tenants {
                    platform,
                    level,
                    province,
                    division,
                    out,
                },
        } => commands::generate::tenants(
            g,
            &platform,
            level,
            province.as_deref(),
            &division,
            out.as_deref(),
        ),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "khaibao", &mut std::io::stdout());
            0
        }
    };
    ExitCode::from(code)
}
