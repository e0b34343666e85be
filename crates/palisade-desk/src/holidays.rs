//! Public-holiday calendars: named sets of dates on which support hours do not apply, with the
//! years each set is known to be complete for. Two calendars are built in, `gb-eng` (bank holidays
//! of England and Wales) and `de` (German holidays observed in every state), for 2025–2028; more
//! calendars, later years and one-off holidays (a coronation, a state funeral) are added with
//! [`HolidayCalendar::insert`] and [`HolidayCalendar::add`].
//!
//! A holiday is a local date in the contract's zone: the whole civil day is out of hours, however
//! long it is on a DST day. The data is a table, not rules, because the official lists are tables:
//! substitute days, one-off holidays and moved dates are decided by proclamation, not computed.
//! The tests check the table against the rules (Easter, "first Monday of May", substitution) so a
//! typo cannot hide.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use jiff::civil::{Date, date};
use serde::{Deserialize, Serialize};

use crate::error::DeskError;

/// One named calendar's holidays, and the years for which the list is complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidaySet {
    /// Each holiday's date and its name as the official list spells it.
    dates: BTreeMap<Date, String>,
    /// The years (inclusive) whose holidays are all listed. A date outside them is not known to
    /// be a working day: callers can warn before trusting a deadline there.
    first_year: i16,
    last_year: i16,
}

impl HolidaySet {
    /// An empty set declared complete for `years`.
    pub fn new(years: RangeInclusive<i16>) -> Self {
        Self {
            dates: BTreeMap::new(),
            first_year: *years.start(),
            last_year: *years.end(),
        }
    }

    /// Adds (or renames) a holiday. The declared years stay as they are: coverage is what the
    /// caller declared, not guessed from single dates.
    pub fn add(&mut self, day: Date, name: impl Into<String>) {
        self.dates.insert(day, name.into());
    }

    /// Builder form of [`HolidaySet::add`].
    pub fn with(mut self, day: Date, name: impl Into<String>) -> Self {
        self.add(day, name);
        self
    }

    /// Whether `day` is a holiday.
    pub fn contains(&self, day: Date) -> bool {
        self.dates.contains_key(&day)
    }

    /// The holiday's name, if `day` is one.
    pub fn name(&self, day: Date) -> Option<&str> {
        self.dates.get(&day).map(String::as_str)
    }

    /// Every holiday in date order.
    pub fn iter(&self) -> impl Iterator<Item = (Date, &str)> {
        self.dates.iter().map(|(d, n)| (*d, n.as_str()))
    }

    /// The years for which the list is complete.
    pub fn years(&self) -> RangeInclusive<i16> {
        self.first_year..=self.last_year
    }

    /// Whether the list is complete for `day`'s year.
    pub fn covers(&self, day: Date) -> bool {
        self.years().contains(&day.year())
    }
}

/// Named holiday calendars, as a contract's `holiday_calendar` names them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayCalendar {
    sets: BTreeMap<String, HolidaySet>,
}

/// Names of the built-in calendars.
pub const GB_ENG: &str = "gb-eng";
pub const DE: &str = "de";

impl HolidayCalendar {
    /// No calendars at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in calendars, built once and shared: they are static data.
    pub fn shared() -> &'static Self {
        static BUILTIN: std::sync::LazyLock<HolidayCalendar> =
            std::sync::LazyLock::new(HolidayCalendar::builtin);
        &BUILTIN
    }

    /// The built-in calendars: `gb-eng` and `de`, 2025–2028.
    pub fn builtin() -> Self {
        let mut cal = Self::empty();
        for (name, table) in [(GB_ENG, GB_ENG_2025_2028), (DE, DE_2025_2028)] {
            let mut set = HolidaySet::new(2025..=2028);
            for &(y, m, d, label) in table {
                set.add(date(y, m, d), label);
            }
            cal.sets.insert(name.to_owned(), set);
        }
        cal
    }

    /// Adds or replaces the calendar `name` (lower-case letters, digits and `-`, as the contract
    /// validation allows).
    pub fn insert(&mut self, name: &str, set: HolidaySet) -> Result<(), DeskError> {
        check_name(name)?;
        self.sets.insert(name.to_owned(), set);
        Ok(())
    }

    /// Adds one holiday to an existing calendar, such as a one-off bank holiday proclaimed after
    /// the table was written.
    pub fn add(&mut self, name: &str, day: Date, label: &str) -> Result<(), DeskError> {
        self.sets
            .get_mut(name)
            .ok_or_else(|| DeskError::UnknownHolidayCalendar(name.to_owned()))?
            .add(day, label);
        Ok(())
    }

    /// The calendar `name`, if known.
    pub fn get(&self, name: &str) -> Option<&HolidaySet> {
        self.sets.get(name)
    }

    /// The known calendar names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }
}

fn check_name(name: &str) -> Result<(), DeskError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(DeskError::InvalidHolidayCalendarName(name.to_owned()))
    }
}

/// Bank holidays in England and Wales, 2025–2028.
///
/// Source: GOV.UK, "UK bank holidays", <https://www.gov.uk/bank-holidays> (machine-readable at
/// <https://www.gov.uk/bank-holidays.json>, division `england-and-wales`), under the Banking and
/// Financial Dealings Act 1971 and the annual royal proclamations. Names as GOV.UK spells them.
/// Following GOV.UK, a holiday that falls on a weekend is listed as its substitute weekday only
/// (28 Dec 2026, 27–28 Dec 2027, 3 Jan 2028); a provider that also closes on the weekend day
/// itself adds it with [`HolidayCalendar::add`].
const GB_ENG_2025_2028: &[(i16, i8, i8, &str)] = &[
    (2025, 1, 1, "New Year’s Day"),
    (2025, 4, 18, "Good Friday"),
    (2025, 4, 21, "Easter Monday"),
    (2025, 5, 5, "Early May bank holiday"),
    (2025, 5, 26, "Spring bank holiday"),
    (2025, 8, 25, "Summer bank holiday"),
    (2025, 12, 25, "Christmas Day"),
    (2025, 12, 26, "Boxing Day"),
    (2026, 1, 1, "New Year’s Day"),
    (2026, 4, 3, "Good Friday"),
    (2026, 4, 6, "Easter Monday"),
    (2026, 5, 4, "Early May bank holiday"),
    (2026, 5, 25, "Spring bank holiday"),
    (2026, 8, 31, "Summer bank holiday"),
    (2026, 12, 25, "Christmas Day"),
    (2026, 12, 28, "Boxing Day (substitute day)"),
    (2027, 1, 1, "New Year’s Day"),
    (2027, 3, 26, "Good Friday"),
    (2027, 3, 29, "Easter Monday"),
    (2027, 5, 3, "Early May bank holiday"),
    (2027, 5, 31, "Spring bank holiday"),
    (2027, 8, 30, "Summer bank holiday"),
    (2027, 12, 27, "Christmas Day (substitute day)"),
    (2027, 12, 28, "Boxing Day (substitute day)"),
    (2028, 1, 3, "New Year’s Day (substitute day)"),
    (2028, 4, 14, "Good Friday"),
    (2028, 4, 17, "Easter Monday"),
    (2028, 5, 1, "Early May bank holiday"),
    (2028, 5, 29, "Spring bank holiday"),
    (2028, 8, 28, "Summer bank holiday"),
    (2028, 12, 25, "Christmas Day"),
    (2028, 12, 26, "Boxing Day"),
];

/// Public holidays observed in every German state, 2025–2028.
///
/// Source: Bundesministerium des Innern, "Feiertage"
/// (<https://www.bmi.bund.de/DE/themen/verfassung/staatliche-symbole/nationale-feiertage/nationale-feiertage-node.html>):
/// the Tag der Deutschen Einheit is federal law (Einigungsvertrag, Art. 2 Abs. 2); every other
/// holiday is set by each state's Feiertagsgesetz, and these nine are in all sixteen. Holidays of
/// only some states (Heilige Drei Könige, Fronleichnam, Reformationstag, Allerheiligen, Buß- und
/// Bettag, Frauentag, Weltkindertag, Mariä Himmelfahrt) belong in per-state calendars such as
/// `de-by`, added with [`HolidayCalendar::insert`]. German holidays have no substitute days.
const DE_2025_2028: &[(i16, i8, i8, &str)] = &[
    (2025, 1, 1, "Neujahr"),
    (2025, 4, 18, "Karfreitag"),
    (2025, 4, 21, "Ostermontag"),
    (2025, 5, 1, "Tag der Arbeit"),
    (2025, 5, 29, "Christi Himmelfahrt"),
    (2025, 6, 9, "Pfingstmontag"),
    (2025, 10, 3, "Tag der Deutschen Einheit"),
    (2025, 12, 25, "1. Weihnachtstag"),
    (2025, 12, 26, "2. Weihnachtstag"),
    (2026, 1, 1, "Neujahr"),
    (2026, 4, 3, "Karfreitag"),
    (2026, 4, 6, "Ostermontag"),
    (2026, 5, 1, "Tag der Arbeit"),
    (2026, 5, 14, "Christi Himmelfahrt"),
    (2026, 5, 25, "Pfingstmontag"),
    (2026, 10, 3, "Tag der Deutschen Einheit"),
    (2026, 12, 25, "1. Weihnachtstag"),
    (2026, 12, 26, "2. Weihnachtstag"),
    (2027, 1, 1, "Neujahr"),
    (2027, 3, 26, "Karfreitag"),
    (2027, 3, 29, "Ostermontag"),
    (2027, 5, 1, "Tag der Arbeit"),
    (2027, 5, 6, "Christi Himmelfahrt"),
    (2027, 5, 17, "Pfingstmontag"),
    (2027, 10, 3, "Tag der Deutschen Einheit"),
    (2027, 12, 25, "1. Weihnachtstag"),
    (2027, 12, 26, "2. Weihnachtstag"),
    (2028, 1, 1, "Neujahr"),
    (2028, 4, 14, "Karfreitag"),
    (2028, 4, 17, "Ostermontag"),
    (2028, 5, 1, "Tag der Arbeit"),
    (2028, 5, 25, "Christi Himmelfahrt"),
    (2028, 6, 5, "Pfingstmontag"),
    (2028, 10, 3, "Tag der Deutschen Einheit"),
    (2028, 12, 25, "1. Weihnachtstag"),
    (2028, 12, 26, "2. Weihnachtstag"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::ToSpan;
    use jiff::civil::Weekday;

    /// Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher), written here
    /// independently of the tables so the two check each other.
    fn easter(y: i16) -> Date {
        let y = i32::from(y);
        let a = y % 19;
        let b = y / 100;
        let c = y % 100;
        let d = b / 4;
        let e = b % 4;
        let f = (b + 8) / 25;
        let g = (b - f + 1) / 3;
        let h = (19 * a + b - d - g + 15) % 30;
        let i = c / 4;
        let k = c % 4;
        let l = (32 + 2 * e + 2 * i - h - k) % 7;
        let m = (a + 11 * h + 22 * l) / 451;
        let month = (h + l - 7 * m + 114) / 31;
        let day = (h + l - 7 * m + 114) % 31 + 1;
        date(y as i16, month as i8, day as i8)
    }

    fn first_monday(y: i16, m: i8) -> Date {
        let d = date(y, m, 1);
        d.nth_weekday_of_month(1, Weekday::Monday).unwrap()
    }

    fn last_monday(y: i16, m: i8) -> Date {
        date(y, m, 1)
            .nth_weekday_of_month(-1, Weekday::Monday)
            .unwrap()
    }

    /// The next weekday on or after `d` that is not in `taken` (England's substitution rule).
    fn substitute(d: Date, taken: &[Date]) -> Date {
        let mut d = d;
        while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) || taken.contains(&d) {
            d = d.tomorrow().unwrap();
        }
        d
    }

    #[test]
    fn england_and_wales_table_follows_the_rules() {
        let cal = HolidayCalendar::builtin();
        let set = cal.get(GB_ENG).unwrap();
        for y in 2025..=2028 {
            let e = easter(y);
            let new_year = substitute(date(y, 1, 1), &[]);
            let christmas = substitute(date(y, 12, 25), &[]);
            let boxing = substitute(date(y, 12, 26), &[christmas]);
            let mut want = vec![
                new_year,
                e - 2.days(),
                e + 1.day(),
                first_monday(y, 5),
                last_monday(y, 5),
                last_monday(y, 8),
                christmas,
                boxing,
            ];
            want.sort();
            let got: Vec<Date> = set
                .iter()
                .map(|(d, _)| d)
                .filter(|d| d.year() == y)
                .collect();
            assert_eq!(got, want, "{y}");
        }
    }

    #[test]
    fn german_table_follows_the_rules() {
        let cal = HolidayCalendar::builtin();
        let set = cal.get(DE).unwrap();
        for y in 2025..=2028 {
            let e = easter(y);
            let mut want = vec![
                date(y, 1, 1),
                e - 2.days(),
                e + 1.day(),
                date(y, 5, 1),
                e + 39.days(),
                e + 50.days(),
                date(y, 10, 3),
                date(y, 12, 25),
                date(y, 12, 26),
            ];
            want.sort();
            let got: Vec<Date> = set
                .iter()
                .map(|(d, _)| d)
                .filter(|d| d.year() == y)
                .collect();
            assert_eq!(got, want, "{y}");
        }
    }

    #[test]
    fn calendars_can_be_added_and_extended() {
        let mut cal = HolidayCalendar::builtin();
        assert_eq!(cal.names().collect::<Vec<_>>(), vec!["de", "gb-eng"]);
        // A one-off bank holiday such as the coronation (8 May 2023) is added to a calendar.
        cal.add(GB_ENG, date(2023, 5, 8), "Bank holiday for the coronation")
            .unwrap();
        let set = cal.get(GB_ENG).unwrap();
        assert_eq!(
            set.name(date(2023, 5, 8)),
            Some("Bank holiday for the coronation")
        );
        assert!(
            !set.covers(date(2023, 5, 8)),
            "coverage is what was declared"
        );
        assert!(set.covers(date(2028, 12, 31)));
        assert_eq!(
            cal.add("xx", date(2026, 1, 1), "x"),
            Err(DeskError::UnknownHolidayCalendar("xx".into()))
        );
        let by = HolidaySet::new(2026..=2026)
            .with(date(2026, 1, 6), "Heilige Drei Könige")
            .with(date(2026, 6, 4), "Fronleichnam");
        cal.insert("de-by", by).unwrap();
        assert!(cal.get("de-by").unwrap().contains(date(2026, 6, 4)));
        assert!(matches!(
            cal.insert("DE BY", HolidaySet::new(2026..=2026)),
            Err(DeskError::InvalidHolidayCalendarName(_))
        ));
        // Calendars are plain data: they round-trip through JSON for storage or configuration.
        let json = serde_json::to_string(&cal).unwrap();
        assert!(json.contains(r#""2026-12-28":"Boxing Day (substitute day)""#));
        assert_eq!(serde_json::from_str::<HolidayCalendar>(&json).unwrap(), cal);
    }
}
