//! Devbox projects: `devbox.json` has the manifest's shape plus keys devenv ignores (`name`,
//! `include`, `env_from`, plugins' package options …). Loading one is [`super::load`] with the
//! Devbox dialect; [`convert`] writes the equivalent `devenv.json` for `devenv init --from-devbox`.

use super::{edit, parse, Dialect, PackageSpec, SCHEMA_URL};

/// Devbox's manifest file name.
pub const FILE_NAME: &str = "devbox.json";

/// A converted manifest and what was left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The new `devenv.json` text.
    pub text: String,
    /// Keys and packages devenv does not support, naming file:line:column.
    pub warnings: Vec<String>,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Convert `devbox.json` text to `devenv.json` text: packages (list form, or map form when any
/// has options), `env`, `shell.init_hook`, `shell.scripts`, and a `$schema`.
pub fn convert(devbox_json: &str) -> anyhow::Result<Converted> {
    let (m, warnings) = parse(devbox_json, FILE_NAME, Dialect::Devbox)?;
    let mut text = format!(
        "{{\n  \"$schema\": {},\n  \"packages\": [\n  ],\n",
        quote(SCHEMA_URL)
    );
    let env: Vec<String> = m
        .env
        .iter()
        .map(|(k, v)| format!("    {}: {}", quote(k), quote(v)))
        .collect();
    if env.is_empty() {
        text.push_str("  \"env\": {},\n");
    } else {
        text.push_str(&format!("  \"env\": {{\n{}\n  }},\n", env.join(",\n")));
    }
    let commands = |lines: &[String]| match lines {
        [one] => quote(one),
        many => format!(
            "[{}]",
            many.iter().map(|l| quote(l)).collect::<Vec<_>>().join(", ")
        ),
    };
    let scripts: Vec<String> = m
        .scripts
        .iter()
        .map(|(name, body)| format!("      {}: {}", quote(name), commands(body)))
        .collect();
    let scripts = if scripts.is_empty() {
        "{}".to_string()
    } else {
        format!("{{\n{}\n    }}", scripts.join(",\n"))
    };
    text.push_str(&format!(
        "  \"shell\": {{\n    \"init_hook\": {},\n    \"scripts\": {scripts}\n  }}\n}}\n",
        if m.init_hook.is_empty() {
            "[]".to_string()
        } else {
            commands(&m.init_hook)
        }
    ));
    // Packages go in through the same editor `devenv add` uses, so the result has its layout.
    let mut specs: Vec<PackageSpec> = m.packages.clone();
    if specs.iter().any(PackageSpec::has_options) {
        text = text.replace("\"packages\": [\n  ],", "\"packages\": {\n  },");
    }
    for spec in specs.drain(..) {
        text = edit::add_package(&text, &spec)?;
    }
    Ok(Converted { text, warnings })
}
