//! In-place edits of manifest text for `devenv add` and `devenv rm`.
//!
//! An edit replaces, inserts or deletes byte ranges found in the syntax tree; everything outside
//! the touched entry — comments, key order, indentation, trailing commas — stays byte-for-byte.
//! New entries copy the layout of their neighbours (one per line with the same indentation, or
//! inline). Giving a package `platforms`, `excluded_platforms` or `outputs` turns a `packages`
//! list into the map form, as Devbox does; that conversion, too, edits only the brackets and the
//! entries' strings.

use anyhow::{anyhow, bail};
use jsonc_parser::ast::{Object, Value};
use jsonc_parser::common::{Range, Ranged};

use super::parse::{parse_ast, skip_trivia, BOM};
use super::PackageSpec;
use crate::diagnostic::ResultExt;

/// One replacement of `text[start..end]`.
struct Edit {
    start: usize,
    end: usize,
    with: String,
}

fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for e in edits {
        out.push_str(&text[at..e.start]);
        out.push_str(&e.with);
        at = e.end;
    }
    out.push_str(&text[at..]);
    out
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn root_object<'a, 'b>(root: &'b Value<'a>) -> anyhow::Result<&'b Object<'a>> {
    root.as_object()
        .ok_or_else(|| anyhow!("the manifest is not a JSON object"))
}

fn parse(text: &str) -> anyhow::Result<Value<'_>> {
    parse_ast(text)
        .map_err(|i| anyhow!("{}:{}: {}", i.line, i.column, i.message))
        .bad_input()
}

/// Name of a list entry (`"jq@1.7"` → `jq`); `None` for entries that are not packages.
fn list_entry_name(v: &Value) -> Option<String> {
    let s = v.as_string_lit()?.value.as_ref();
    match s.rsplit_once('@') {
        Some((name, _)) => Some(name.to_string()),
        None => Some(s.to_string()),
    }
}

/// The string after `@` of a list entry, or `latest`.
fn list_entry_version(s: &str) -> String {
    match s.rsplit_once('@') {
        Some((_, v)) if !v.is_empty() => v.to_string(),
        _ => "latest".to_string(),
    }
}

/// The file's line break: `\r\n` if it uses them, else `\n`.
fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

/// Run an edit on the text after a byte-order mark and put the mark back.
fn keep_bom<T>(
    text: &str,
    f: impl FnOnce(&str) -> anyhow::Result<T>,
    put_back: impl FnOnce(T, &str) -> T,
) -> anyhow::Result<T> {
    match text.strip_prefix(BOM) {
        Some(rest) => f(rest).map(|out| put_back(out, BOM)),
        None => f(text),
    }
}

/// Add `spec` to the manifest text (or replace the entry with the same name).
pub fn add_package(text: &str, spec: &PackageSpec) -> anyhow::Result<String> {
    spec.validate().map_err(anyhow::Error::msg).bad_input()?;
    keep_bom(
        text,
        |t| add_inner(t, spec),
        |out, bom| format!("{bom}{out}"),
    )
}

/// Remove the package `name`; `None` when the manifest does not list it.
pub fn remove_package(text: &str, name: &str) -> anyhow::Result<Option<String>> {
    keep_bom(
        text,
        |t| remove_inner(t, name),
        |out, bom| out.map(|o| format!("{bom}{o}")),
    )
}

fn add_inner(text: &str, spec: &PackageSpec) -> anyhow::Result<String> {
    let root = parse(text)?;
    let obj = root_object(&root)?;
    // A new `packages` value: a list, or the map form when the entry needs options.
    let fresh = if spec.has_options() {
        format!("{{{}: {}}}", quote(&spec.name), map_value(spec))
    } else {
        format!("[{}]", quote(&spec.lock_key()))
    };
    let edits = match obj.get("packages") {
        None => {
            let entry = format!("\"packages\": {fresh}");
            insert_last(
                text,
                obj.range,
                &obj.properties.iter().map(|p| p.range).collect::<Vec<_>>(),
                &entry,
            )
        }
        Some(prop) => match &prop.value {
            Value::NullKeyword(n) => vec![Edit {
                start: n.range.start,
                end: n.range.end,
                with: fresh,
            }],
            Value::Array(a) if !spec.has_options() => {
                match a
                    .elements
                    .iter()
                    .find(|e| list_entry_name(e).as_deref() == Some(&spec.name))
                {
                    Some(existing) => vec![Edit {
                        start: existing.range().start,
                        end: existing.range().end,
                        with: quote(&spec.lock_key()),
                    }],
                    None => insert_last(
                        text,
                        a.range,
                        &a.elements.iter().map(|e| e.range()).collect::<Vec<_>>(),
                        &quote(&spec.lock_key()),
                    ),
                }
            }
            Value::Array(a) => {
                // Convert in place, then add to the map like any other map-form manifest.
                let converted = finish(text, list_to_map(a))?;
                return add_inner(&converted, spec);
            }
            Value::Object(map) => {
                let value = map_value(spec);
                match map.properties.iter().find(|p| p.name.as_str() == spec.name) {
                    Some(existing) => vec![Edit {
                        start: existing.value.range().start,
                        end: existing.value.range().end,
                        with: value,
                    }],
                    None => insert_last(
                        text,
                        map.range,
                        &map.properties.iter().map(|p| p.range).collect::<Vec<_>>(),
                        &format!("{}: {value}", quote(&spec.name)),
                    ),
                }
            }
            _ => bail!("`packages` must be a list or an object"),
        },
    };
    finish(text, edits)
}

fn remove_inner(text: &str, name: &str) -> anyhow::Result<Option<String>> {
    let root = parse(text)?;
    let obj = root_object(&root)?;
    let Some(prop) = obj.get("packages") else {
        return Ok(None);
    };
    let container = prop.value.range();
    let (ranges, index) = match &prop.value {
        Value::Array(a) => {
            let ranges: Vec<Range> = a.elements.iter().map(|e| e.range()).collect();
            let index = a
                .elements
                .iter()
                .position(|e| list_entry_name(e).as_deref() == Some(name));
            (ranges, index)
        }
        Value::Object(map) => {
            let ranges: Vec<Range> = map.properties.iter().map(|p| p.range).collect();
            let index = map.properties.iter().position(|p| p.name.as_str() == name);
            (ranges, index)
        }
        _ => return Ok(None),
    };
    let Some(index) = index else {
        return Ok(None);
    };
    finish(text, vec![remove_item(text, container, &ranges, index)]).map(Some)
}

/// Remove entry `index` of the array or object at `container` (whose entries span `items`), with
/// the same layout rules as `rm`. For other in-place rewrites in this module's parent.
pub(super) fn remove_entry(
    text: &str,
    container: Range,
    items: &[Range],
    index: usize,
) -> anyhow::Result<String> {
    finish(text, vec![remove_item(text, container, items, index)])
}

/// Point `$schema` at `url`: replace its value, or insert it as the first key in the layout of
/// the keys that follow.
pub(super) fn set_schema(text: &str, url: &str) -> anyhow::Result<String> {
    let root = parse(text)?;
    let obj = root_object(&root)?;
    let value = quote(url);
    let edits = if let Some(prop) = obj.get("$schema") {
        vec![Edit {
            start: prop.value.range().start,
            end: prop.value.range().end,
            with: value,
        }]
    } else if let Some(first) = obj.properties.first() {
        let gap = &text[obj.range.start + 1..first.range.start];
        let sep = if gap.contains('\n') {
            format!("{}{}", newline(text), line_indent(text, first.range.start))
        } else {
            " ".to_string()
        };
        vec![Edit {
            start: first.range.start,
            end: first.range.start,
            with: format!("\"$schema\": {value},{sep}"),
        }]
    } else {
        insert_last(text, obj.range, &[], &format!("\"$schema\": {value}"))
    };
    finish(text, edits)
}

/// Apply the edits and check the result still parses, so a bug here can never write a broken file.
fn finish(text: &str, edits: Vec<Edit>) -> anyhow::Result<String> {
    let out = apply(text, edits);
    parse_ast(&out).map_err(|i| {
        anyhow!(
            "editing the manifest produced invalid JSON at {}:{} ({}); the file was not changed",
            i.line,
            i.column,
            i.message
        )
    })?;
    Ok(out)
}

/// A map-form value: `"1.7"` or `{ "version": "1.7", "platforms": [...] }`.
fn map_value(spec: &PackageSpec) -> String {
    if !spec.has_options() {
        return quote(&spec.version);
    }
    let list = |items: &[String]| {
        format!(
            "[{}]",
            items
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut fields = vec![format!("\"version\": {}", quote(&spec.version))];
    if !spec.platforms.is_empty() {
        fields.push(format!("\"platforms\": {}", list(&spec.platforms)));
    }
    if !spec.excluded_platforms.is_empty() {
        fields.push(format!(
            "\"excluded_platforms\": {}",
            list(&spec.excluded_platforms)
        ));
    }
    if !spec.outputs.is_empty() {
        fields.push(format!("\"outputs\": {}", list(&spec.outputs)));
    }
    format!("{{ {} }}", fields.join(", "))
}

/// Turn a `packages` list into the map form (what Devbox does when an entry gains options):
/// brackets become braces and each `"name@version"` becomes `"name": "version"`, so comments,
/// commas and layout inside the list stay as they were.
fn list_to_map(list: &jsonc_parser::ast::Array) -> Vec<Edit> {
    let mut edits = vec![
        Edit {
            start: list.range.start,
            end: list.range.start + 1,
            with: "{".to_string(),
        },
        Edit {
            start: list.range.end - 1,
            end: list.range.end,
            with: "}".to_string(),
        },
    ];
    for e in &list.elements {
        let Some(s) = e.as_string_lit() else { continue };
        let name = list_entry_name(e).unwrap_or_default();
        edits.push(Edit {
            start: s.range.start,
            end: s.range.end,
            with: format!("{}: {}", quote(&name), quote(&list_entry_version(&s.value))),
        });
    }
    edits
}

/// The whitespace at the start of the line containing `pos`.
fn line_indent(text: &str, pos: usize) -> String {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The file's indentation step: the indentation of the first indented line, else two spaces.
fn indent_unit(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect::<String>()
        })
        .find(|ws| !ws.is_empty())
        .unwrap_or_else(|| "  ".to_string())
}

/// If the rest of the line after `pos` is only spaces and an optional `//` comment, the position of
/// the line end; else `pos`. New entries go after such a comment so it stays with its entry.
fn after_line_comment(text: &str, pos: usize) -> usize {
    let mut line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    if text[..line_end].ends_with('\r') {
        line_end -= 1;
    }
    let rest = text[pos..line_end].trim_start();
    if rest.starts_with("//") {
        line_end
    } else {
        pos
    }
}

/// Insert `item` as the last element of the array/object at `container` whose elements span `items`.
fn insert_last(text: &str, container: Range, items: &[Range], item: &str) -> Vec<Edit> {
    let open = container.start;
    let close = container.end - 1;
    let Some(last) = items.last() else {
        let interior = &text[open + 1..close];
        let with = if interior.trim().is_empty() && interior.contains('\n') {
            let indent = line_indent(text, open);
            let unit = indent_unit(text);
            let nl = newline(text);
            // The new line goes in front of the interior's last line break, which stays with
            // whatever indents the closing bracket: `rm` then gives back the interior as it was.
            let last_break = interior.rfind('\n').expect("the interior has a line break");
            let last_break = if interior[..last_break].ends_with('\r') {
                last_break - 1
            } else {
                last_break
            };
            let (head, tail) = interior.split_at(last_break);
            format!("{head}{nl}{indent}{unit}{item}{tail}")
        } else if interior.trim().is_empty() {
            // `{ }` becomes `{ item }`: the padding goes on both sides, which `rm` folds back.
            format!("{interior}{item}{interior}")
        } else {
            // Only comments inside: keep them after the new entry.
            return vec![Edit {
                start: open + 1,
                end: open + 1,
                with: item.to_string(),
            }];
        };
        return vec![Edit {
            start: open + 1,
            end: close,
            with,
        }];
    };
    let before_last = if items.len() >= 2 {
        &text[items[items.len() - 2].end..last.start]
    } else {
        &text[open + 1..last.start]
    };
    let multiline = before_last.contains('\n');
    let sep = if multiline {
        format!("{}{}", newline(text), line_indent(text, last.start))
    } else if items.len() >= 2 {
        // Copy the spacing after the previous comma (`"a", "b"` vs `"a","b"`).
        let after_comma = before_last.rsplit(',').next().unwrap_or(" ");
        after_comma
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect()
    } else {
        " ".to_string()
    };
    let next = skip_trivia(text, last.end);
    if text.as_bytes().get(next) == Some(&b',') && next < close {
        // A trailing comma: keep the style and give the new entry one too.
        let at = if multiline {
            after_line_comment(text, next + 1)
        } else {
            next + 1
        };
        vec![Edit {
            start: at,
            end: at,
            with: format!("{sep}{item},"),
        }]
    } else {
        let at = if multiline {
            after_line_comment(text, last.end)
        } else {
            last.end
        };
        vec![
            Edit {
                start: last.end,
                end: last.end,
                with: ",".to_string(),
            },
            Edit {
                start: at,
                end: at,
                with: format!("{sep}{item}"),
            },
        ]
    }
}

/// Delete element `index` of `items` together with its separator: a whole line when the entry
/// sits on its own line(s), else just the entry and one comma.
fn remove_item(text: &str, container: Range, items: &[Range], index: usize) -> Edit {
    let item = items[index];
    let interior = Range::new(container.start + 1, container.end - 1);
    let only_trivia = |s: &str| skip_trivia(s, 0) == s.len();
    if items.len() == 1 {
        let before = &text[interior.start..item.start];
        if let Some(keep) = single_line_padding(text, interior, item) {
            // `{ "a": "1" }` becomes `{ }`, the container `add` found.
            return Edit {
                start: interior.start,
                end: interior.end,
                with: keep,
            };
        }
        let after = text[item.end..interior.end].trim_start();
        let after = after.strip_prefix(',').unwrap_or(after);
        if only_trivia(before)
            && only_trivia(after)
            && !before.contains('\n')
            && !after.contains('\n')
        {
            // `{ "a": "1" }` or `[/* note */ "a",]` becomes `{}` / `[]`.
            return Edit {
                start: interior.start,
                end: interior.end,
                with: String::new(),
            };
        }
    }
    let line_start = text[..item.start].rfind('\n').map_or(0, |i| i + 1);
    // A block comment in front of the entry on its line belongs to it.
    let own_line_before = only_trivia(&text[line_start..item.start]);
    // After the entry: optional comma, then only comments or nothing up to the line end.
    let mut after = item.end;
    let comma_after = {
        let p = skip_spaces(text, after);
        if text.as_bytes().get(p) == Some(&b',') {
            after = p + 1;
            true
        } else {
            false
        }
    };
    let line_end = text[after..].find('\n').map_or(text.len(), |i| after + i);
    let own_line_after = rest_of_line_is_trivia(text, after);
    let is_last = index + 1 == items.len();
    // The entry's comma on a later line (`"a"\n  , "b"`): removing the entry's line would
    // leave it behind, in front of the next entry or alone.
    let comma_later = (!comma_after)
        .then(|| skip_trivia(text, item.end))
        .filter(|&c| text.as_bytes().get(c) == Some(&b','));

    if own_line_before && own_line_after && comma_later.is_none() && line_end < text.len() {
        if is_last && !comma_after && index > 0 {
            // The previous entry's comma would now be a trailing comma the file did not have.
            let prev = items[index - 1];
            let p = skip_spaces(text, prev.end);
            if text.as_bytes().get(p) == Some(&b',') {
                // Comments on the previous entry's line stay; the line break that ends the
                // previous line is the removed line's own, so a file that mixes `\n` and `\r\n`
                // keeps the break it had before the entry was added.
                let before = &text[p + 1..line_start];
                let comments = before
                    .strip_suffix("\r\n")
                    .or_else(|| before.strip_suffix('\n'))
                    .unwrap_or(before);
                let line_break_start = if text[..line_end].ends_with('\r') {
                    line_end - 1
                } else {
                    line_end
                };
                // Spaces that ended the previous entry's line before `add` put the new entry
                // in front of them.
                let spaces = blank_or_empty(&text[item.end..line_break_start]);
                return Edit {
                    start: p,
                    end: line_end + 1,
                    with: format!("{comments}{spaces}{}", &text[line_break_start..=line_end]),
                };
            }
        }
        if line_start == 0 {
            return Edit {
                start: line_start,
                end: line_end + 1,
                with: String::new(),
            };
        }
        // The line goes with the line break in front of it, and the one after it stays: when
        // `add` wrote this line, it wrote that break in front of it, so a file that mixes `\n`
        // and `\r\n` gets back the break it had.
        let break_before = if text[..line_start - 1].ends_with('\r') {
            line_start - 2
        } else {
            line_start - 1
        };
        let own_break = if text[..line_end].ends_with('\r') {
            line_end - 1
        } else {
            line_end
        };
        // Spaces after the entry (and its comma) stay: they were the line's end before `add`
        // put the entry in front of them. A comment there goes with the entry.
        let end = if blank_or_empty(&text[after..own_break]).len() == own_break - after {
            after
        } else {
            own_break
        };
        return Edit {
            start: break_before,
            end,
            with: String::new(),
        };
    }
    // Entries sharing a line: an entry starts after the previous separator and spaces, so a block
    // comment in front of it goes with it.
    let lead = |i: usize| {
        let boundary = if i == 0 {
            interior.start
        } else {
            let c = skip_trivia(text, items[i - 1].end);
            if text.as_bytes().get(c) == Some(&b',') {
                c + 1
            } else {
                items[i - 1].end
            }
        };
        skip_spaces(text, boundary).min(items[i].start)
    };
    if !is_last {
        // An entry on its own line whose comma starts the next one's: the next entry moves up
        // into its place.
        let start = match comma_later {
            Some(_) if own_line_before => skip_spaces(text, line_start),
            _ => lead(index),
        };
        Edit {
            start,
            end: lead(index + 1),
            with: String::new(),
        }
    } else if index > 0 {
        let prev_comma = skip_trivia(text, items[index - 1].end);
        if comma_after && text.as_bytes().get(prev_comma) == Some(&b',') {
            // `[…, "b",]`: from after the previous entry's comma through this entry's, so the
            // previous comma stays where it was as the trailing one (what `add` inserted goes
            // exactly, wherever that comma is).
            Edit {
                start: prev_comma + 1,
                end: after,
                with: String::new(),
            }
        } else {
            // `[…, "b"]`: from the previous entry's end up to this entry's end.
            Edit {
                start: items[index - 1].end,
                end: item.end,
                with: String::new(),
            }
        }
    } else {
        let end = match comma_later {
            Some(comma) => comma + 1,
            None if comma_after => after,
            None => item.end,
        };
        Edit {
            start: lead(index),
            end,
            with: String::new(),
        }
    }
}

/// The padding to keep when the only entry of a container that has no line break inside is
/// removed, when nothing but spaces and one comma surround it: the same padding on both sides
/// (what `add` writes into `{ }`) is kept once, otherwise both sides are.
fn single_line_padding(text: &str, interior: Range, item: Range) -> Option<String> {
    let before = &text[interior.start..item.start];
    let after = &text[item.end..interior.end];
    let after = match after.find(',') {
        Some(comma) => format!("{}{}", &after[..comma], &after[comma + 1..]),
        None => after.to_string(),
    };
    let padding = |s: &str| s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r'));
    if !padding(before) || !padding(&after) {
        return None;
    }
    Some(if before == after {
        before.to_string()
    } else {
        format!("{before}{after}")
    })
}

/// Whether only spaces and comments follow `pos` up to the end of its line, none running past
/// it: removing the line would cut a block comment that does in half.
fn rest_of_line_is_trivia(text: &str, mut pos: usize) -> bool {
    let b = text.as_bytes();
    loop {
        while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\r') {
            pos += 1;
        }
        let rest = &text[pos..];
        if rest.is_empty() || rest.starts_with('\n') || rest.starts_with("//") {
            return true;
        }
        let Some(body) = rest.strip_prefix("/*") else {
            return false;
        };
        match body.find("*/") {
            Some(end) if !body[..end].contains('\n') => pos += 2 + end + 2,
            _ => return false,
        }
    }
}

/// `s` when it is only spaces and tabs, else the empty string.
fn blank_or_empty(s: &str) -> &str {
    if s.bytes().all(|b| b == b' ' || b == b'\t') {
        s
    } else {
        ""
    }
}

fn skip_spaces(text: &str, mut pos: usize) -> usize {
    let b = text.as_bytes();
    while pos < b.len() && (b[pos] == b' ' || b[pos] == b'\t') {
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests;
