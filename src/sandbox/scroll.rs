//! The company scroll's rules (API_FACTS §6): one open scroll per app; a `scroll_param` unused for
//! the expiry interval expires; at the end `data` is empty and the param expires. Pure: the caller
//! passes the time and the number of companies.

use std::ops::Range;

/// Why a scroll call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrollError {
    /// A scroll is already open for this app.
    AlreadyOpen,
    /// The param is unknown, finished or expired.
    Expired,
}

#[derive(Debug, Clone)]
struct Open {
    param: String,
    next: usize,
    last_used_ms: i64,
}

/// The app's scroll.
#[derive(Debug, Clone)]
pub struct Scrolls {
    open: Option<Open>,
    expiry_ms: i64,
    /// Companies per page.
    pub page_size: usize,
}

impl Scrolls {
    pub fn new(expiry_ms: i64, page_size: usize) -> Self {
        Self {
            open: None,
            expiry_ms,
            page_size: page_size.max(1),
        }
    }

    /// The next page: which companies (by index) and the param to send back.
    pub fn next(
        &mut self,
        param: Option<&str>,
        total: usize,
        now_ms: i64,
        fresh_param: impl FnOnce() -> String,
    ) -> Result<(Range<usize>, String), ScrollError> {
        if self
            .open
            .as_ref()
            .is_some_and(|o| now_ms - o.last_used_ms > self.expiry_ms)
        {
            self.open = None;
        }
        let open = match (param, self.open.as_mut()) {
            (None, Some(_)) => return Err(ScrollError::AlreadyOpen),
            (None, None) => self.open.insert(Open {
                param: fresh_param(),
                next: 0,
                last_used_ms: now_ms,
            }),
            (Some(p), Some(open)) if open.param == p => open,
            (Some(_), _) => return Err(ScrollError::Expired),
        };
        let start = open.next.min(total);
        let end = (start + self.page_size).min(total);
        open.next = end;
        open.last_used_ms = now_ms;
        let param = open.param.clone();
        if start == end {
            self.open = None;
        }
        Ok((start..end, param))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_through_then_ends_with_an_empty_page_and_closes() {
        let mut s = Scrolls::new(60_000, 2);
        let (a, p) = s
            .next(None, 3, 0, || "p1".into())
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(a, 0..2);
        assert_eq!(
            s.next(Some(&p), 3, 1, || "x".into()),
            Ok((2..3, "p1".into()))
        );
        assert_eq!(
            s.next(Some(&p), 3, 2, || "x".into()),
            Ok((3..3, "p1".into()))
        );
        assert_eq!(
            s.next(Some(&p), 3, 3, || "x".into()),
            Err(ScrollError::Expired)
        );
        assert!(
            s.next(None, 3, 4, || "p2".into()).is_ok(),
            "a new scroll may start"
        );
    }

    #[test]
    fn one_scroll_per_app_until_it_expires_unused() {
        let mut s = Scrolls::new(60_000, 2);
        let (_, p) = s
            .next(None, 5, 0, || "p1".into())
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            s.next(None, 5, 1_000, || "p2".into()),
            Err(ScrollError::AlreadyOpen)
        );
        assert_eq!(
            s.next(Some(&p), 5, 62_000, || "x".into()),
            Err(ScrollError::Expired)
        );
        assert_eq!(
            s.next(None, 5, 62_001, || "p3".into()).map(|r| r.1),
            Ok("p3".into())
        );
    }
}
