//! `--until`: the end of a maintenance window, in the operator's local time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::AppError;

/// `HH:MM` is the next such time (tonight's 05:00 from a 22:00 cron job is
/// tomorrow's, as with `shutdown 05:00`); `YYYY-MM-DD HH:MM` is exactly that one.
pub fn parse(text: &str) -> Result<(SystemTime, String), AppError> {
    let bad = || AppError::Usage {
        message: format!("--until `{text}` is not a time"),
        hint: Some("write HH:MM (the next such time, local) or YYYY-MM-DD HH:MM".into()),
    };
    let text = text.trim();
    let (date, time) = match text.rsplit_once([' ', 'T']) {
        Some((date, time)) => (Some(date.trim()), time),
        None => (None, text),
    };
    let (hour, minute) = hour_minute(time).ok_or_else(bad)?;
    let at = match date {
        None => next_local(hour, minute).ok_or_else(bad)?,
        Some(date) => {
            let mut parts = date.splitn(3, '-').map(|p| p.parse::<i32>().ok());
            let (Some(Some(y)), Some(Some(m)), Some(Some(d))) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            local(y, m, d, hour, minute).ok_or_else(bad)?
        }
    };
    Ok((at, text.to_string()))
}

/// The runner's clock: how far ahead the window closes, from now.
pub fn instant(at: SystemTime) -> tokio::time::Instant {
    let left = at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + left
}

fn hour_minute(text: &str) -> Option<(i32, i32)> {
    let (h, m) = text.split_once(':')?;
    let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

fn next_local(hour: i32, minute: i32) -> Option<SystemTime> {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return None;
    }
    let today = local(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, hour, minute)?;
    if today > now {
        return Some(today);
    }
    local(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday + 1, hour, minute)
}

/// mktime normalises an out-of-range day (the 32nd) and finds DST itself.
fn local(year: i32, month: i32, day: i32, hour: i32, minute: i32) -> Option<SystemTime> {
    if !(1..=12).contains(&month) || !(1..=32).contains(&day) {
        return None;
    }
    // SAFETY: a zeroed tm is a valid value; mktime reads and normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_isdst = -1;
    let t = unsafe { libc::mktime(&mut tm) };
    (t != -1).then(|| UNIX_EPOCH + Duration::from_secs(t.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hh_mm_is_the_next_one() {
        let (at, label) = parse("05:00").unwrap();
        let ahead = at.duration_since(SystemTime::now()).unwrap();
        assert!(ahead <= Duration::from_secs(24 * 3600 + 3600), "{ahead:?}");
        assert_eq!(label, "05:00");
    }

    #[test]
    fn a_full_date_can_be_in_the_past() {
        let (at, _) = parse("2020-01-02 03:04").unwrap();
        assert!(at < SystemTime::now());
        let (later, _) = parse("2020-01-02T03:05").unwrap();
        assert_eq!(later.duration_since(at).unwrap(), Duration::from_secs(60));
    }

    #[test]
    fn nonsense_is_refused_with_a_hint() {
        for bad in ["25:00", "5pm", "2020-13-01 01:00", "12:60", ""] {
            let err = parse(bad).unwrap_err();
            assert!(err.render(false).contains("HH:MM"), "{bad}");
        }
    }
}
