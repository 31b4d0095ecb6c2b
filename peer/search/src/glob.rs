//! Shell-style globs: `*` (any run, also empty) and `?` (one character). Nothing else is
//! special, so names with brackets or dots match literally. Matching is linear-ish (the classic
//! single-backtrack algorithm: `*` never needs more than the last star remembered).

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    /// Compare ASCII letters case-insensitively (and other letters by their lowercase).
    fold: bool,
    /// The part before the first wildcard.
    prefix_len: usize,
    has_wildcard: bool,
    /// `PREFIX*SUFFIX` (one `*`, no `?`): the suffix, matched without backtracking.
    one_star_suffix: Option<usize>,
}

impl Glob {
    /// Compile `pattern`; `fold` makes it case-insensitive.
    pub fn new(pattern: &str, fold: bool) -> Self {
        let prefix_len = pattern.find(['*', '?']).unwrap_or(pattern.len());
        let one_star = pattern.matches('*').count() == 1 && !pattern.contains('?');
        Self {
            pattern: pattern.to_string(),
            fold,
            prefix_len,
            has_wildcard: prefix_len < pattern.len(),
            one_star_suffix: one_star.then_some(prefix_len + 1),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The literal text before the first wildcard (all of it without wildcards).
    pub fn literal_prefix(&self) -> &str {
        &self.pattern[..self.prefix_len]
    }

    /// No `*` or `?`: the glob is an exact comparison.
    pub fn is_literal(&self) -> bool {
        !self.has_wildcard
    }

    /// Whether the glob is case-insensitive.
    pub fn folds(&self) -> bool {
        self.fold
    }

    /// Whether `text` matches the whole glob.
    pub fn matches(&self, text: &str) -> bool {
        if !self.has_wildcard {
            return if self.fold {
                eq_fold(&self.pattern, text)
            } else {
                self.pattern == text
            };
        }
        let p = self.pattern.as_bytes();
        let t = text.as_bytes();
        // Cheap rejection on the literal prefix before the general algorithm.
        let pre = &p[..self.prefix_len];
        if t.len() < pre.len() {
            return false;
        }
        if p.is_ascii() && t.is_ascii() {
            if !bytes_eq(pre, &t[..pre.len()], self.fold) {
                return false;
            }
            if let Some(at) = self.one_star_suffix {
                let suf = &p[at..];
                return t.len() >= pre.len() + suf.len()
                    && bytes_eq(suf, &t[t.len() - suf.len()..], self.fold);
            }
            return glob_match(p, t, |a, b| bytes_eq_1(a, b, self.fold), b'*', b'?');
        }
        let p: Vec<char> = self.pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        glob_match(&p, &t, |a, b| chars_eq(a, b, self.fold), '*', '?')
    }
}

fn bytes_eq_1(a: u8, b: u8, fold: bool) -> bool {
    a == b || (fold && a.eq_ignore_ascii_case(&b))
}

fn bytes_eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn chars_eq(a: char, b: char, fold: bool) -> bool {
    a == b || (fold && a.to_lowercase().eq(b.to_lowercase()))
}

/// Case-insensitive equality (ASCII fast path, Unicode lowercase otherwise).
pub fn eq_fold(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

fn glob_match<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    eq: impl Fn(T, T) -> bool,
    star: T,
    one: T,
) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // Position of the last `*` in p and the text position it currently covers up to.
    let mut back: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == star {
            back = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == one || eq(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = back {
            pi = sp + 1;
            ti = st + 1;
            back = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p, true).matches(t)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("web*.acme.org", "web0123.store042.acme.org"));
        assert!(m("WEB*.ACME.org", "web01.acme.org"));
        assert!(!m("web*.acme.org", "db01.acme.org"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("db0?", "db01"));
        assert!(m("ab*ba", "abba"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("ab*", "ab"));
        assert!(!m("db0?", "db012"));
        assert!(m("*.org", "x.y.org"));
        assert!(m("h?llo*", "héllo-world"));
        assert!(m("ÉCOLE*", "école1"));
        assert!(!Glob::new("Web*", false).matches("web1"));
        assert_eq!(Glob::new("web*.org", true).literal_prefix(), "web");
        assert!(Glob::new("plain", true).is_literal());
    }
}
