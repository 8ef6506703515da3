//! `--config FILE`: the programs read a pool's configuration in the
//! format its extension names (TOML, YAML, JSON), through the library's
//! `Deserialize`; the same pool in every format, refusals naming the file
//! and the field whichever reader refused.

use std::path::{Path, PathBuf};

use pickwise::config::PoolConfig;
use pickwise_programs::config::{load, read, ConfigFileError, Format};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// Loads `text` in `format` and returns the refusal's message.
fn refusal(format: Format, text: &str) -> String {
    match read(text, format) {
        Ok(config) => panic!("accepted {text:?}: {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_same_config_in_toml_yaml_and_json_loads_the_same() {
    let toml = load(&example("pool.toml")).unwrap_or_else(|e| panic!("{e}"));
    let yaml = load(&example("pool.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let json = load(&example("pool.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_same(&toml, &yaml, "YAML");
    assert_same(&toml, &json, "JSON");
    // Spec strings and tables say the same in every format too.
    let specs_toml = read(
        r#"strategy = "round-robin"
        backends = ["127.0.0.1:8001,weight=2,backup,max_conns=10,agent=127.0.0.1:9001,id=a"]"#,
        Format::Toml,
    )
    .expect("TOML");
    let specs_yaml = read(
        "strategy: round-robin\nbackends:\n  - address: 127.0.0.1:8001\n    weight: 2\n    \
         backup: true\n    max_conns: 10\n    agent: 127.0.0.1:9001\n    id: a\n",
        Format::Yaml,
    )
    .expect("YAML");
    let specs_json = read(
        r#"{"strategy": "round-robin", "backends": ["127.0.0.1:8001,weight=2,backup,max_conns=10,agent=127.0.0.1:9001,id=a"]}"#,
        Format::Json,
    )
    .expect("JSON");
    assert_same(&specs_toml, &specs_yaml, "spec and table");
    assert_same(&specs_toml, &specs_json, "spec in JSON");
    assert_eq!(specs_toml.backends[0].max_conns, Some(10));
    assert_eq!(Format::from_path(Path::new("a/b.YML")), Some(Format::Yaml));
}

#[test]
fn a_file_refused_names_the_file_and_an_unknown_extension_is_refused() {
    let dir = std::env::temp_dir().join(format!("pickwise-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("bad.yml");
    std::fs::write(&file, "strategy: p2c\nbackends: ['127.0.0.1:1,weight=0']\n").expect("written");
    let error = load(&file).expect_err("weight 0");
    assert!(error
        .to_string()
        .starts_with(&format!("{}: backends[0]: bad backend", file.display())));
    let ini = dir.join("pool.ini");
    std::fs::write(&ini, "strategy = p2c").expect("written");
    let error = load(&ini).expect_err("no such format");
    assert!(
        matches!(error, ConfigFileError::UnknownFormat { .. }),
        "{error}"
    );
    let missing = load(&dir.join("missing.toml")).expect_err("no file");
    assert!(matches!(missing, ConfigFileError::Read { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

/// The same configuration, field by field (PoolConfig has floats and a
/// secret key, so no `==` of its own).
fn assert_same(a: &PoolConfig, b: &PoolConfig, what: &str) {
    assert_eq!(a.strategy, b.strategy, "{what}: strategy");
    assert_eq!(
        a.strategy_options.hash_key, b.strategy_options.hash_key,
        "{what}"
    );
    assert_eq!(a.strategy_options.seed, b.strategy_options.seed, "{what}");
    assert_eq!(
        a.strategy_options.v6_prefix, b.strategy_options.v6_prefix,
        "{what}"
    );
    assert_eq!(a.backends, b.backends, "{what}: backends");
    assert_eq!(a.counts_in_flight, b.counts_in_flight, "{what}");
    assert_eq!(a.agent_expiry, b.agent_expiry, "{what}");
    assert_eq!(a.health, b.health, "{what}: health");
    assert_eq!(a.outlier_detection, b.outlier_detection, "{what}: outliers");
    assert_eq!(a.slow_start, b.slow_start, "{what}: slow start");
    assert_eq!(a.feedback, b.feedback, "{what}: feedback");
    assert_eq!(a.overprovisioning, b.overprovisioning, "{what}");
    assert_eq!(a.panic_threshold, b.panic_threshold, "{what}");
}

#[test]
fn refusals_name_the_field_in_every_format() {
    use Format::{Json, Toml, Yaml};
    let head = "strategy = \"p2c\"\n";
    // The pool's own checks, through each format's reader.
    let exact = [
        (
            Toml,
            format!("{head}backends = [{{ address = '127.0.0.1:3', weight = 0 }}]"),
            "backends[0].weight: 0 is outside 1..=1000000",
        ),
        (
            Yaml,
            "strategy: p2c\nbackends:\n  - 127.0.0.1:1\n  - { address: 127.0.0.1:2, weight: 0 }\n"
                .to_owned(),
            "backends[1].weight: 0 is outside 1..=1000000",
        ),
        (
            Json,
            r#"{"strategy": "p2c", "feedback": {"latency_decay": "0ms"}}"#.to_owned(),
            "feedback.latency_decay: must be more than zero",
        ),
    ];
    for (format, text, expected) in &exact {
        assert_eq!(refusal(*format, text), *expected, "{format}: {text}");
    }
    // Refusals found while reading: the path, the reader's words, and where.
    let starts = [
        (
            Toml,
            format!("{head}[health]\nconsecutive_failures = -1"),
            "health.consecutive_failures: invalid value: integer `-1`, expected u32 at line 3",
        ),
        (
            Toml,
            format!("{head}[health]\nconsecutive_failure = 3"),
            "health.consecutive_failure: unknown field `consecutive_failure`, expected one of `consecutive_failures`",
        ),
        (
            Toml,
            format!("{head}[health]\nbase_ejection = 5"),
            "health.base_ejection: 5 has no unit: write \"5s\" or \"5ms\" (in quotes)",
        ),
        (
            Toml,
            format!("{head}[health]\nbase_ejection = '5x'"),
            "health.base_ejection: `5x` has an unknown unit `x` (known: ns, us, ms, s, m, h, d)",
        ),
        (
            Toml,
            format!("{head}[service_mesh]\nname = 'x'"),
            "service_mesh: unknown field `service_mesh`",
        ),
        (
            Toml,
            format!("{head}backends = [{{ adress = '127.0.0.1:1' }}]"),
            "backends[0].adress: unknown field `adress`, expected one of `address`",
        ),
        (
            Toml,
            format!("{head}backends = [3]"),
            "backends[0]: invalid type: integer `3`, expected a backend spec such as",
        ),
        (Toml, "backends = []".to_owned(), "missing field `strategy`"),
        (
            Toml,
            "strategy = \"p2c\nbackends = []".to_owned(),
            "invalid basic string",
        ),
        (
            Yaml,
            "strategy: p2c\nhealth:\n  max_ejected_percent: lots\n".to_owned(),
            "health.max_ejected_percent: invalid type: string \"lots\", expected u8",
        ),
        (
            Yaml,
            "strategy: p2c\nslow_start:\n  floor_percent: 10\n".to_owned(),
            "slow_start: missing field `window`",
        ),
        (
            Yaml,
            "strategy: p2c\nbackends:\n  - { address: 127.0.0.1:1, wieght: 2 }\n".to_owned(),
            "backends[0].wieght: unknown field `wieght`, expected one of `address`",
        ),
        (
            Json,
            r#"{"strategy": "p2c", "backends": [{"address": "127.0.0.1:1", "weight": "2"}]}"#
                .to_owned(),
            "backends[0].weight: invalid type: string \"2\", expected u64 at line 1",
        ),
        (
            Json,
            r#"{"strategy": "p2c"} trailing"#.to_owned(),
            "trailing characters at line 1",
        ),
    ];
    for (format, text, expected) in &starts {
        let message = refusal(*format, text);
        assert!(
            message.starts_with(expected),
            "{format}: {text}\n  got: {message}\n  want: {expected}..."
        );
    }
}

/// A fresh temporary directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pickwise-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

#[test]
fn a_fifo_a_device_and_an_oversized_file_are_refused_without_being_read() {
    let dir = scratch("config-kinds");
    let zero = dir.join("zero.yml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = dir.join("pipe.toml");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    for (file, why) in [(&zero, "not a regular file"), (&fifo, "not a regular file")] {
        let message = load(file).expect_err("refused").to_string();
        assert!(
            message.contains(&file.display().to_string()) && message.contains(why),
            "{message}"
        );
    }
    let big = dir.join("big.toml");
    let mut text = String::from("strategy = \"round-robin\"\nbackends = [\"127.0.0.1:1\"]\n");
    text.push_str(&"# padding\n".repeat(110_000));
    std::fs::write(&big, &text).unwrap();
    let message = load(&big).expect_err("refused").to_string();
    assert!(
        message.contains("more than the 1048576 a config file may be"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nesting_deeper_than_sixteen_levels_is_refused_before_a_reader_sees_it() {
    // 400 KB of `[` took YAML's reader 67 s.
    let deep = "[".repeat(200_000);
    for (format, text) in [
        (
            Format::Yaml,
            format!("strategy: round-robin\nbackends: {deep}\n"),
        ),
        (
            Format::Toml,
            format!("strategy = \"round-robin\"\nbackends = {deep}\n"),
        ),
        (
            Format::Json,
            format!("{{\"strategy\": \"round-robin\", \"backends\": {deep}"),
        ),
    ] {
        let message = refusal(format, &text);
        assert!(
            message.contains("nested deeper than 16 levels") && message.contains("line 2")
                || format == Format::Json && message.contains("nested deeper than 16 levels"),
            "{format:?}: {message}"
        );
    }
    // Brackets inside quoted strings and comments are text, not nesting.
    let quoted = format!(
        "strategy = \"round-robin\" # {deep}\nbackends = [\"127.0.0.1:1,id={}\"]\n",
        "[".repeat(40)
    );
    let config = read(&quoted, Format::Toml).map_err(|e| e.to_string());
    assert!(config.is_ok(), "{:?}", config.err());
}

#[test]
fn a_config_with_no_backends_and_no_names_to_discover_is_refused() {
    let dir = scratch("config-empty");
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "strategy = \"round-robin\"\nbackends = []\n").unwrap();
    let message = load(&empty).expect_err("refused").to_string();
    assert!(
        message.contains("empty.toml") && message.contains("no backends"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_backend_id_with_a_control_character_is_refused_in_every_form() {
    let table = refusal(
        Format::Yaml,
        "strategy: round-robin\nbackends:\n  - address: 127.0.0.1:1\n    id: \"w1\\nINFO forged\"\n",
    );
    assert!(
        table.contains("id") && table.contains("control character") && !table.contains('\n'),
        "{table}"
    );
    let spec = refusal(
        Format::Json,
        r#"{"strategy": "round-robin", "backends": ["127.0.0.1:1,id=w1\rforged"]}"#,
    );
    assert!(
        spec.contains("control character") && !spec.contains('\r'),
        "{spec}"
    );
}
