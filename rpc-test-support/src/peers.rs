//! The test peers' own packages, installed by the tests themselves: the Python packages into a virtual
//! environment under the build directory (`target/test-peers/python`, from `peers/requirements.txt`), the
//! Node packages with `npm ci` in each peer directory, each once and again only when its pins change. A
//! fresh machine with the Rust toolchain, python3, node/npm and Neovim needs nothing else done by hand.
//!
//! Test binaries run one after another and their tests in parallel threads: a file lock (`File::lock`) per
//! installation keeps them from installing the same thing twice at once.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pinned Python requirements.
const REQUIREMENTS: &str = include_str!("../peers/requirements.txt");

/// Where installations go: `target/test-peers`, in the build directory the running program was built in (a
/// test, `target/<profile>/deps/<test>`, or a binary such as the benchmark suite, `target/<profile>/<bin>`).
fn peers_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("cannot find the running executable: {e}"));
    // Cargo marks the root of every build directory with a CACHEDIR.TAG.
    let target = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| exe.ancestors().nth(3))
        .unwrap_or_else(|| panic!("unexpected executable path {exe:?}"));
    let dir = target.join("test-peers");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
    dir
}

/// Runs `install` under the lock named `name`, unless what it installs is `present` and `marker` already holds
/// `stamp` (then nothing is done); writes `stamp` to `marker` once it succeeds.
fn once(name: &str, marker: &Path, stamp: &str, present: &Path, install: impl FnOnce()) {
    let lock_path = peers_dir().join(format!("{name}.lock"));
    let lock = File::create(&lock_path).unwrap_or_else(|e| panic!("cannot create {lock_path:?}: {e}"));
    lock.lock().unwrap_or_else(|e| panic!("cannot lock {lock_path:?}: {e}"));
    if present.exists() && fs::read_to_string(marker).is_ok_and(|s| s == stamp) {
        return;
    }
    install();
    fs::write(marker, stamp).unwrap_or_else(|e| panic!("cannot write {marker:?}: {e}"));
}

/// One line on stderr, past the test harness's capture (which takes `eprintln!` only), so that a run shows
/// what it installs.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `cmd`, failing the test with its output and `what_to_do` if it does not succeed.
fn run(mut cmd: Command, what_to_do: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; {what_to_do}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}); {what_to_do}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python of the test peers' virtual environment, created and filled the first time it is asked for.
pub(crate) fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let system = crate::find_program("python3").unwrap_or_else(|| panic!("{}", crate::PYTHON3_MISSING));
            let venv = peers_dir().join("python");
            let python = venv.join("bin").join("python3");
            once("python", &venv.join("installed.txt"), REQUIREMENTS, &python, || {
                let packages: Vec<&str> =
                    REQUIREMENTS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
                say(&format!("installing the Python test peers ({}) into {}", packages.join(", "), venv.display()));
                let mut create = Command::new(&system);
                create.args(["-m", "venv", "--clear"]).arg(&venv);
                run(create, "install Python's venv module with `apt-get install -y python3-venv`");
                let mut pip = Command::new(&python);
                pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(&packages);
                run(pip, "check that PyPI is reachable (or its mirror configured for pip)");
            });
            python
        })
        .clone()
}

/// Makes sure the Node packages of the peer directory `dir` (with its `package.json` and `package-lock.json`)
/// are installed, running `npm ci` there the first time and whenever its lock file changes.
pub fn node_packages(dir: &Path) {
    let lock = fs::read_to_string(dir.join("package-lock.json"))
        .unwrap_or_else(|e| panic!("{} has no package-lock.json: {e}", dir.display()));
    let name: String = dir.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let marker = peers_dir().join(format!("{name}.installed"));
    once(&name, &marker, &lock, &dir.join("node_modules"), || {
        let npm = crate::find_program("npm")
            .unwrap_or_else(|| panic!("npm not found: install Node.js with `apt-get install -y nodejs npm`"));
        say(&format!("installing the Node test peers of {} (npm ci)", dir.display()));
        let mut ci = Command::new(npm);
        ci.args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(dir);
        run(ci, "check that the npm registry is reachable");
    });
}
