//! devenv's own definitions of the Devbox plugins real projects lean on. Devbox activates one
//! for a package whose name matches it (`python312`, `nodejs_20`, `postgresql_16`, ...) or that a
//! manifest includes as `plugin:<name>`; the variable names and file locations are Devbox's, so a
//! project's scripts work unchanged, while the files' contents are devenv's own.
//!
//! Paths use the placeholders of plugin files (see [`super::Vars`]). Files under `devbox.d` are the
//! user's to edit and are never overwritten; files under `.devbox/virtenv` are devenv's and are
//! written again when they differ.

use super::{Definition, FileSpec};

/// Creates `$VENV_DIR` once with the project's Python, so `. $VENV_DIR/bin/activate` works.
const VENV_HOOK: &str = r#"#!/bin/sh
# Written by devenv for the python plugin: create the virtual environment at $VENV_DIR once,
# with the project's Python, so `. "$VENV_DIR/bin/activate"` works in hooks and scripts.
set -eu
[ -f "$VENV_DIR/bin/activate" ] && exit 0
if command -v python3 >/dev/null 2>&1; then py=python3; else py=python; fi
if ! "$py" -c 'import venv' >/dev/null 2>&1; then
    echo "devenv: $py cannot create a virtual environment (it has no venv module)" >&2
    exit 0
fi
echo "devenv: creating a Python virtual environment in $VENV_DIR" >&2
"$py" -m venv "$VENV_DIR"
printf '*\n' > "$VENV_DIR/.gitignore"
"#;

/// Initializes `$MYSQL_DATADIR` once, without a root password (a development database).
const MYSQL_SETUP: &str = r#"#!/bin/sh
# Written by devenv for the mysql/mariadb plugin: initialize the project's database directory
# once, so `mysqld` can start from it.
set -eu
mkdir -p "$MYSQL_HOME"
[ -d "$MYSQL_DATADIR/mysql" ] && exit 0
mkdir -p "$MYSQL_DATADIR"
if command -v mariadb-install-db >/dev/null 2>&1; then
    mariadb-install-db --auth-root-authentication-method=normal --datadir="$MYSQL_DATADIR" --basedir="$MYSQL_BASEDIR" >/dev/null
elif command -v mysql_install_db >/dev/null 2>&1; then
    mysql_install_db --datadir="$MYSQL_DATADIR" --basedir="$MYSQL_BASEDIR" >/dev/null
else
    mysqld --initialize-insecure --datadir="$MYSQL_DATADIR" --basedir="$MYSQL_BASEDIR" >/dev/null 2>&1
fi
"#;

const MY_CNF: &str = "# The project's MySQL/MariaDB settings (devenv writes this file once; edit it freely).\n[mysqld]\nskip-networking=0\nbind-address=127.0.0.1\n";

const REDIS_CONF: &str = "# The project's Redis settings (devenv writes this file once; edit it freely).\nbind 127.0.0.1\nprotected-mode yes\ndaemonize no\nappendonly no\n";

const NGINX_CONF: &str = "# The project's nginx settings (devenv writes this file once; edit it freely).\nevents {}\nhttp {\n  server {\n    listen 8081;\n    server_name localhost;\n    root ../../../devbox.d/web;\n  }\n}\n";

const NGINX_TEMPLATE: &str = "# Rendered into nginx.conf with envsubst (devenv writes this file once; edit it freely).\nevents {}\nhttp {\n  server {\n    listen $NGINX_WEB_PORT;\n    server_name $NGINX_WEB_SERVER_NAME;\n    root $NGINX_WEB_ROOT;\n  }\n}\n";

const WEB_INDEX: &str =
    "<!doctype html>\n<title>It works</title>\n<p>Served by nginx from devbox.d/web.</p>\n";

const PHP_INI: &str = "; The project's PHP settings (devenv writes this file once; edit it freely).\n[PHP]\nmemory_limit = 256M\n";

const PHP_FPM_CONF: &str = "; The project's PHP-FPM settings (devenv writes this file once; edit it freely).\n[global]\npid = ${PHPFPM_PID_FILE}\nerror_log = ${PHPFPM_ERROR_LOG_FILE}\ndaemonize = no\n\n[www]\nlisten = 127.0.0.1:${PHPFPM_PORT}\npm = dynamic\npm.max_children = 5\npm.start_servers = 2\npm.min_spare_servers = 1\npm.max_spare_servers = 3\n";

const fn dir(path: &'static str) -> FileSpec {
    FileSpec {
        path,
        content: None,
        executable: false,
    }
}

const fn file(path: &'static str, content: &'static str) -> FileSpec {
    FileSpec {
        path,
        content: Some(content),
        executable: false,
    }
}

const fn script(path: &'static str, content: &'static str) -> FileSpec {
    FileSpec {
        path,
        content: Some(content),
        executable: true,
    }
}

const LINUX: &[&str] = &["x86_64-linux", "aarch64-linux"];

const PYTHON: Definition = Definition {
    name: "python",
    env: &[("VENV_DIR", "{{ .DevboxProjectDir }}/.venv")],
    init_hook: &[
        "export UV_PROJECT_ENVIRONMENT=\"$VENV_DIR\"",
        "\"{{ .Virtenv }}/bin/venvShellHook.sh\"",
    ],
    files: &[script("{{ .Virtenv }}/bin/venvShellHook.sh", VENV_HOOK)],
    packages: &[],
    service: None,
};

const MYSQL_ENV: &[(&str, &str)] = &[
    ("MYSQL_BASEDIR", "{{ .DevboxProfileDefault }}"),
    ("MYSQL_HOME", "{{ .Virtenv }}/run"),
    ("MYSQL_DATADIR", "{{ .Virtenv }}/data"),
    ("MYSQL_UNIX_PORT", "{{ .Virtenv }}/run/mysql.sock"),
    ("MYSQL_PID_FILE", "{{ .Virtenv }}/run/mysql.pid"),
    ("MYSQL_CONF", "{{ .DevboxDir }}/my.cnf"),
];
const MYSQL_FILES: &[FileSpec] = &[
    dir("{{ .Virtenv }}/run"),
    script("{{ .Virtenv }}/setup_db.sh", MYSQL_SETUP),
    file("{{ .DevboxDir }}/my.cnf", MY_CNF),
];

/// The built-in plugins, by name.
pub(super) const BUILTINS: &[Definition] = &[
    PYTHON,
    Definition {
        name: "nodejs",
        env: &[
            ("DEVBOX_COREPACK_BIN_DIR", "{{ .Virtenv }}/corepack-bin"),
            ("PATH", "{{ .Virtenv }}/corepack-bin:$PATH"),
        ],
        init_hook: &["if [ -n \"${DEVBOX_COREPACK_ENABLED:-}\" ] && command -v corepack >/dev/null 2>&1; then corepack enable --install-directory \"$DEVBOX_COREPACK_BIN_DIR\"; fi"],
        files: &[dir("{{ .Virtenv }}/corepack-bin")],
        packages: &[],
        service: None,
    },
    Definition {
        name: "ruby",
        env: &[
            ("PATH", "{{ .Virtenv }}/bin/:$PATH"),
            ("RUBY_CONFDIR", "{{ .Virtenv }}"),
            ("GEMRC", "{{ .Virtenv }}/.gemrc"),
            ("GEM_HOME", "{{ .Virtenv }}"),
        ],
        init_hook: &[],
        files: &[],
        packages: &[],
        service: None,
    },
    Definition {
        name: "rustup",
        env: &[
            ("RUSTUP_HOME", "{{ .Virtenv }}"),
            ("LIBRARY_PATH", "{{ .DevboxProfileDefault }}/lib"),
        ],
        init_hook: &[],
        files: &[],
        packages: &[],
        service: None,
    },
    Definition {
        name: "php",
        env: &[
            ("PHPFPM_ERROR_LOG_FILE", "{{ .Virtenv }}/php-fpm.log"),
            ("PHPFPM_PID_FILE", "{{ .Virtenv }}/php-fpm.pid"),
            ("PHPFPM_PORT", "8082"),
            ("PHPRC", "{{ .DevboxDir }}"),
        ],
        init_hook: &[],
        files: &[
            file("{{ .DevboxDir }}/php-fpm.conf", PHP_FPM_CONF),
            file("{{ .DevboxDir }}/php.ini", PHP_INI),
        ],
        packages: &[],
        service: Some("php-fpm"),
    },
    Definition {
        name: "postgresql",
        env: &[
            ("PGDATA", "{{ .Virtenv }}/data"),
            ("PGHOST", "{{ .Virtenv }}"),
        ],
        init_hook: &[],
        files: &[dir("{{ .Virtenv }}/data")],
        packages: &[("glibcLocales", LINUX)],
        service: Some("postgresql"),
    },
    Definition {
        name: "mysql",
        env: MYSQL_ENV,
        init_hook: &["bash \"{{ .Virtenv }}/setup_db.sh\""],
        files: MYSQL_FILES,
        // Devbox's plugin builds these from a flake of its own; its locks name no more packages.
        packages: &[],
        service: Some("mysql"),
    },
    Definition {
        name: "mariadb",
        env: MYSQL_ENV,
        init_hook: &["bash \"{{ .Virtenv }}/setup_db.sh\""],
        files: MYSQL_FILES,
        // Devbox's plugin builds these from a flake of its own; its locks name no more packages.
        packages: &[],
        service: Some("mariadb"),
    },
    Definition {
        name: "redis",
        env: &[
            ("REDIS_PORT", "6379"),
            ("REDIS_CONF", "{{ .DevboxDir }}/redis.conf"),
        ],
        init_hook: &[],
        files: &[file("{{ .DevboxDir }}/redis.conf", REDIS_CONF)],
        packages: &[],
        service: Some("redis"),
    },
    Definition {
        name: "nginx",
        env: &[
            ("NGINX_CONF", "{{ .DevboxDir }}/nginx.conf"),
            ("NGINX_CONFDIR", "{{ .DevboxDir }}"),
            ("NGINX_PATH_PREFIX", "{{ .Virtenv }}"),
            ("NGINX_TMPDIR", "{{ .Virtenv }}/temp"),
            ("NGINX_WEB_PORT", "8081"),
            ("NGINX_WEB_ROOT", "../../../devbox.d/web"),
            ("NGINX_WEB_SERVER_NAME", "localhost"),
        ],
        init_hook: &[],
        files: &[
            dir("{{ .Virtenv }}/temp"),
            file("{{ .DevboxDir }}/nginx.template", NGINX_TEMPLATE),
            file("{{ .DevboxDir }}/nginx.conf", NGINX_CONF),
            file("{{ .DevboxDirRoot }}/web/index.html", WEB_INDEX),
        ],
        packages: &[("gettext", &[]), ("gawk", &[])],
        service: Some("nginx"),
    },
];

/// The built-in plugin Devbox activates for a package named `name`, if any.
pub(super) fn for_package(name: &str) -> Option<&'static Definition> {
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let digits_underscores = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let plugin = if let Some(rest) = name.strip_prefix("python") {
        // python, python3, python312, python3Full, python3-minimal; python3xPackages.pip too.
        let base = ["Full", "Minimal", "-full", "-minimal"]
            .iter()
            .find_map(|s| rest.strip_suffix(s))
            .unwrap_or(rest);
        let pip = rest
            .strip_suffix("Packages.pip")
            .is_some_and(|v| v.starts_with('3') && digits(v));
        (digits(base) || pip).then_some("python")
    } else if let Some(rest) = name.strip_prefix("nodejs") {
        let rest = rest.strip_prefix("-slim").unwrap_or(rest);
        let rest = rest.strip_prefix('_').unwrap_or(rest);
        digits(rest).then_some("nodejs")
    } else if let Some(rest) = name.strip_prefix("postgresql") {
        (rest.is_empty()
            || rest
                .strip_prefix('_')
                .is_some_and(|v| !v.is_empty() && digits(v)))
        .then_some("postgresql")
    } else if let Some(rest) = name.strip_prefix("php") {
        digits(rest).then_some("php")
    } else if let Some(rest) = name.strip_prefix("mysql") {
        match rest {
            "" => Some("mariadb"),
            "57" | "50" => Some("mysql"),
            v if v.len() == 2 && v.starts_with('8') && digits(v) => Some("mysql"),
            _ => None,
        }
    } else if let Some(rest) = name.strip_prefix("mariadb") {
        let rest = rest.strip_prefix("-embedded").unwrap_or(rest);
        let rest = rest.strip_prefix('_').unwrap_or(rest);
        digits(rest).then_some("mariadb")
    } else if let Some(rest) = name
        .strip_prefix("jruby")
        .or_else(|| name.strip_prefix("ruby"))
    {
        (rest.is_empty()
            || (digits_underscores(rest) && rest.ends_with(|c: char| c.is_ascii_digit())))
        .then_some("ruby")
    } else {
        // Otherwise Devbox looks for a plugin named like the package (`redis`, `nginx`, `rustup`).
        Some(name)
    };
    plugin.and_then(by_name)
}

/// The built-in plugin called `name` (`plugin:<name>`).
pub(super) fn by_name(name: &str) -> Option<&'static Definition> {
    BUILTINS.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_trigger_the_plugins_devbox_activates() {
        for (package, plugin) in [
            ("python", Some("python")),
            ("python3", Some("python")),
            ("python312", Some("python")),
            ("python3Full", Some("python")),
            ("python311Packages.pip", Some("python")),
            ("python312Packages.requests", None),
            ("nodejs", Some("nodejs")),
            ("nodejs_20", Some("nodejs")),
            ("nodejs-slim_22", Some("nodejs")),
            ("postgresql", Some("postgresql")),
            ("postgresql_16", Some("postgresql")),
            ("postgresql_jdbc", None),
            ("php83", Some("php")),
            ("mysql80", Some("mysql")),
            ("mysql", Some("mariadb")),
            ("mariadb_110", Some("mariadb")),
            ("ruby_3_2", Some("ruby")),
            ("ruby", Some("ruby")),
            ("rubocop", None),
            ("redis", Some("redis")),
            ("nginx", Some("nginx")),
            ("rustup", Some("rustup")),
            ("go", None),
            ("jq", None),
        ] {
            assert_eq!(for_package(package).map(|d| d.name), plugin, "{package}");
        }
    }
}
