//! The README runs as written: its shell blocks, in order, against a fresh server, with
//! `pathway` on PATH as the binary under test. A block marked ```` ```sh no-run ````
//! (starting a server, production recipes) is not run; every other ```` ```sh ```` is.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::{config_dir, spawn_app};

/// A shell block of a Markdown text, and the line its fence opens on.
#[derive(Debug, PartialEq, Eq)]
struct Block {
    line: usize,
    code: String,
}

/// The fenced blocks whose info string is exactly `sh`, in order.
fn runnable_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match open.as_mut() {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some((n + 1, info.trim() == "sh", String::new()));
                }
            }
            Some((start, runs, code)) => {
                if line.trim_end() == "```" {
                    if *runs {
                        blocks.push(Block {
                            line: *start,
                            code: std::mem::take(code),
                        });
                    }
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    blocks
}

/// Runs `blocks` as one bash script (`set -euo pipefail`), in `dir`, with `pathway` on
/// PATH and `env`. On failure, says which block was running and what was printed.
fn run_blocks(blocks: &[Block], dir: &Path, env: &[(&str, String)]) -> Result<String, String> {
    let mut script = String::from("set -euo pipefail\n");
    for block in blocks {
        script.push_str(&format!(
            "echo '## README block at line {}' >&2\n{}\n",
            block.line, block.code
        ));
    }
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_pathway"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir)
        .env("PATH", path)
        .env("PATHWAY_CONFIG_DIR", config_dir())
        .env_remove("PATHWAY_ENV")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let last = stderr
            .lines()
            .rfind(|l| l.starts_with("## README block"))
            .unwrap_or("before the first block")
            .to_owned();
        Err(format!(
            "{last} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        ))
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(crate_dir().join("README.md")).expect("README.md")
}

#[tokio::test]
async fn the_readme_runs_as_written_against_a_fresh_server() {
    let app = spawn_app().await;
    let blocks = runnable_blocks(&readme());
    assert!(blocks.len() >= 10, "the walkthrough's blocks: {blocks:#?}");
    let dir = crate_dir();
    // The CLI (`pathway audit ...`) reads the server's database and keys, as a reader's
    // does from `config/local.toml`.
    let mut env = vec![
        ("API", app.address.clone()),
        ("PATHWAY__DATABASE__URL", app.db.url.clone()),
    ];
    for (name, path) in app.audit.env() {
        env.push((name, path.display().to_string()));
    }
    let result =
        tokio::task::spawn_blocking(move || run_blocks(&blocks, &dir, &env).map(|out| (out, app)))
            .await
            .unwrap();
    let (out, app) = result.unwrap_or_else(|e| panic!("{e}"));
    // It did reach the end of the walk: a case in support, a closed one, a panel.
    let auditor = app.token("auditor-9", &["auditor"], crate::helpers::AREA);
    let cases: serde_json::Value = app
        .get("/v1/cases?limit=50", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    let mut states: Vec<&str> = cases["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["state"].as_str())
        .collect();
    states.sort();
    assert_eq!(states, ["closed", "support"], "{out}");
    assert!(
        out.contains("checkpoint 1 sealed") && out.contains("\"intact\": true"),
        "the CLI sealed and verified the server's log: {out}"
    );
}

#[test]
fn only_sh_blocks_run_and_no_run_ones_are_left_out() {
    let text = "intro\n```sh\necho one\n```\n```sh no-run\nexit 1\n```\n```json\n{}\n```\n```sh\necho two\n```\n";
    assert_eq!(
        runnable_blocks(text),
        vec![
            Block {
                line: 2,
                code: "echo one\n".into()
            },
            Block {
                line: 11,
                code: "echo two\n".into()
            }
        ]
    );
}

#[test]
fn a_broken_example_fails_the_run_and_is_located() {
    let dir = crate_dir();
    let ok =
        "```sh\nX=1\n```\n```sh no-run\nexit 1\n```\n```sh\n[ \"$X\" = 1 ] && echo fine\n```\n";
    assert_eq!(
        run_blocks(&runnable_blocks(ok), &dir, &[]).unwrap(),
        "fine\n"
    );
    // A failing command, a failing stage of a pipeline, an unset variable: each stops it.
    for broken in [
        "```sh\necho start\n```\n```sh\nfalse\necho never\n```\n",
        "```sh\necho start\n```\n```sh\nfalse | cat\necho never\n```\n",
        "```sh\necho start\n```\n```sh\necho \"$NOT_SET_ANYWHERE\"\n```\n",
    ] {
        let err = run_blocks(&runnable_blocks(broken), &dir, &[]).unwrap_err();
        assert!(err.contains("README block at line 4 failed"), "{err}");
        assert!(!err.contains("never"), "{err}");
    }
}

#[tokio::test]
async fn the_readmes_req_fails_on_a_status_other_than_the_one_written() {
    let app = spawn_app().await;
    // The README's own helpers (its first runnable block), then requests whose written
    // status is wrong: each must fail the run.
    let setup = runnable_blocks(&readme()).remove(0);
    assert!(setup.code.contains("req()"), "{}", setup.code);
    let address = app.address.clone();
    tokio::task::spawn_blocking(move || {
        let dir = crate_dir();
        let env = [("API", address)];
        let run = |code: &str| {
            let blocks = [
                Block {
                    line: setup.line,
                    code: setup.code.clone(),
                },
                Block {
                    line: 1,
                    code: code.into(),
                },
            ];
            run_blocks(&blocks, &dir, &env)
        };
        assert!(run("req 200 \"$API/healthz\"").is_ok());
        for wrong in [
            "req 201 \"$API/healthz\"",
            "req 200 \"$API/v1/me\"",
            "ID=$(req 200 \"$API/v1/me\" | field id)",
            "req 200 http://127.0.0.1:1/",
        ] {
            let err = run(wrong).unwrap_err();
            assert!(
                err.contains("README block at line 1 failed"),
                "{wrong}: {err}"
            );
        }
    })
    .await
    .unwrap();
}
