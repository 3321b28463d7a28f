//! Personal names: which characters a stored name may not hold, and the form in which two
//! names are compared to link repeat referrals about one person.
//!
//! Linking must not be dodged by characters that cannot be seen (U+200B), by full-width or
//! other compatibility forms (`Ａｍｉｒ`), by case, or by letters of another script that look
//! the same (Cyrillic `А` for Latin `A`, Greek `Η` for Latin `H`). Comparison therefore uses
//! the confusable skeleton of Unicode Technical Standard #39 (the full confusables data, as
//! `unicode-security` ships it) over an NFKC-normalised, case-folded name, in which the
//! letters of other scripts that read as basic Latin letters were first read as those.

use icu_properties::props::{
    BidiControl, CanonicalCombiningClass, DefaultIgnorableCodePoint, GeneralCategory, JoiningType,
    Script,
};
use icu_properties::{CodePointMapData, CodePointSetData};
use unicode_normalization::UnicodeNormalization;

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

/// True for a character that is invisible or only steers how text is shown: a default
/// ignorable code point, a format (Cf) or control (Cc) character, a bidirectional control,
/// or a line or paragraph separator.
pub fn is_invisible(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointSetData::new::<BidiControl>().contains(c)
        || matches!(
            CodePointMapData::<GeneralCategory>::new().get(c),
            GeneralCategory::Format
                | GeneralCategory::Control
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// The first invisible character in `name` (see [`is_invisible`]) that a stored name may not
/// hold, or `None`.
///
/// The joiners U+200C and U+200D are allowed only where a script needs them (the CONTEXTJ
/// rules of RFC 5892, Appendix A.1 and A.2): after a virama, and a non-joiner between two
/// letters that would otherwise join, as in Persian surnames such as `ابراهیم‌زاده`.
pub fn invisible_character(name: &str) -> Option<char> {
    let chars: Vec<char> = name.chars().collect();
    chars
        .iter()
        .enumerate()
        .find(|&(i, &c)| is_invisible(c) && !joiner_in_context(&chars, i))
        .map(|(_, &c)| c)
}

/// RFC 5892, Appendix A.1 (ZWNJ) and A.2 (ZWJ).
fn joiner_in_context(chars: &[char], i: usize) -> bool {
    let c = chars[i];
    if c != ZWNJ && c != ZWJ {
        return false;
    }
    let after_virama = i > 0
        && CodePointMapData::<CanonicalCombiningClass>::new().get(chars[i - 1])
            == CanonicalCombiningClass::Virama;
    if after_virama || c == ZWJ {
        return after_virama;
    }
    let joining = CodePointMapData::<JoiningType>::new();
    let not_transparent = |c: &&char| joining.get(**c) != JoiningType::Transparent;
    let before = chars[..i].iter().rev().find(not_transparent);
    let after = chars[i + 1..].iter().find(not_transparent);
    matches!(
        before.map(|c| joining.get(*c)),
        Some(JoiningType::LeftJoining | JoiningType::DualJoining)
    ) && matches!(
        after.map(|c| joining.get(*c)),
        Some(JoiningType::RightJoining | JoiningType::DualJoining)
    )
}

/// `name` in the form compared to link repeat referrals: two names with the same form are
/// taken to be the same name. Not for display: the form mixes scripts and look-alikes.
///
/// The steps: letters of other scripts that read as basic Latin letters written as those
/// (see [`read_as_latin`]); NFKC (full-width and other compatibility forms become plain
/// letters); invisible characters dropped; full Unicode case folding; the TR39 skeleton;
/// then spaces, hyphens, apostrophes, dots and accents dropped, so `O'Neil-Smith`,
/// `oneil smith` and `Zoë`/`Zoe` agree as they always have.
pub fn match_form(name: &str) -> String {
    let visible: String = read_as_latin(name)
        .nfkc()
        .filter(|&c| !is_invisible(c))
        .collect();
    let folded = caseless::default_case_fold_str(&visible);
    let skeleton: String = unicode_security::skeleton(&folded)
        .map(small_capital_as_letter)
        .collect();
    // Again, for the letters that the step above produced, and lower case once more for
    // the few prototypes that are capitals (the digit 0 becomes `O`).
    unicode_security::skeleton(&skeleton)
        .flat_map(char::to_lowercase)
        .filter(|&c| !c.is_whitespace() && !is_separator(c) && !is_accent(c))
        .collect()
}

/// `name` with each letter of another script whose TR39 prototype is made of basic Latin
/// letters written as that prototype: Greek `Η` as `H`, `η` as `n`, `Β` as `B`, Cyrillic
/// `Ь` as `b`, `р` as `p`.
///
/// The skeleton of a case-folded name loses the capitals: Greek `Η` folds to `η`, whose
/// look-alike is `n`, not `h` (Cyrillic `Н` folds to `н`, a small capital H, which is why
/// Cyrillic linked and Greek did not). So letters are read before folding. A prototype `l`
/// of a capital is written `I`, the capital it reads as: TR39 takes `I` and `l` as one,
/// while case folding keeps `Ian` apart from `lan`.
///
/// In a word with a Latin letter, letters are read as written: a Greek `Η` among Latin
/// letters reads as `H`, a Greek `η` as `n`. In a word with none (a Greek or Cyrillic name,
/// or one spelled wholly in look-alikes such as `ΗΟΡΕ`), every letter is read as its
/// capital, so that `ΠΑΠΑΔΟΠΟΥΛΟΣ` and `Παπαδόπουλος`, which differ only in case, still
/// agree. Both come before NFKC, which would turn some look-alikes into letters that look
/// like no Latin one (the lunate sigma `ϲ`, a `c`, into `ς`).
fn read_as_latin(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in name.split_inclusive(|c: char| c.is_whitespace() || is_separator(c)) {
        if word.chars().any(|c| c.is_alphabetic() && is_latin(c)) {
            word.chars().for_each(|c| read_letter(c, &mut out));
        } else {
            word.chars()
                .flat_map(char::to_uppercase)
                .for_each(|c| read_letter(c, &mut out));
        }
    }
    out
}

/// Appends `c`, or the basic Latin letters that `c`, a letter of another script, reads as.
fn read_letter(c: char, out: &mut String) {
    if c.is_alphabetic() && !is_latin(c) {
        let mut buffer = [0; 4];
        let prototype: String = unicode_security::skeleton(c.encode_utf8(&mut buffer))
            .map(small_capital_as_letter)
            .collect();
        let latin = prototype.chars().any(|p| p.is_ascii_alphabetic())
            && prototype
                .chars()
                .all(|p| p.is_ascii_alphabetic() || is_accent(p));
        if latin {
            let capital = c.is_uppercase();
            out.extend(
                prototype
                    .chars()
                    .map(|p| if capital && p == 'l' { 'I' } else { p }),
            );
            return;
        }
    }
    out.push(c);
}

/// True for a character of the Latin script.
fn is_latin(c: char) -> bool {
    CodePointMapData::<Script>::new().get(c) == Script::Latin
}

/// The skeleton of a folded Cyrillic or Greek letter that looks like a Latin capital is a
/// Latin small capital (`к` becomes `ĸ`, `т` becomes `ᴛ`), so `Кhan` typed with a Cyrillic
/// capital would not meet `Khan`. Each small capital is taken as its letter.
fn small_capital_as_letter(c: char) -> char {
    match c {
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' | 'ĸ' => 'k',
        'ʟ' => 'l',
        // `ʍ` is the look-alike TR39 gives for Cyrillic `м`.
        'ᴍ' | 'ʍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        c => c,
    }
}

/// Punctuation that people write in a name or leave out: `O'Neil-Smith`, `St. John`.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}' | '\u{2011}' | '\'' | '\u{2018}' | '\u{2019}' | '\u{02bc}' | '`' | '.'
    )
}

/// Combining accents and overlays (the skeleton is decomposed: `é` is `e` and U+0301, `ł` is
/// `l` and U+0338), which referrers often leave out.
fn is_accent(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036f}'
            | '\u{1ab0}'..='\u{1aff}'
            | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}'
            | '\u{fe20}'..='\u{fe2f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_formatting_characters_are_found() {
        for (c, what) in [
            ('\u{200B}', "zero width space"),
            ('\u{00AD}', "soft hyphen"),
            ('\u{2060}', "word joiner"),
            ('\u{200E}', "left-to-right mark"),
            ('\u{202E}', "right-to-left override"),
            ('\u{2066}', "left-to-right isolate"),
            ('\u{FEFF}', "byte order mark"),
            ('\u{180E}', "Mongolian vowel separator"),
            ('\u{034F}', "combining grapheme joiner"),
            ('\u{FE0F}', "variation selector"),
            ('\u{3164}', "Hangul filler"),
            ('\u{E0041}', "tag letter"),
            ('\u{0600}', "Arabic number sign (Cf)"),
            ('\u{2028}', "line separator"),
            ('\u{0007}', "bell"),
            ('\u{200D}', "a joiner between Latin letters"),
            ('\u{200C}', "a non-joiner between Latin letters"),
        ] {
            let name = format!("Am{c}ir");
            assert_eq!(invisible_character(&name), Some(c), "{what}");
        }
    }

    #[test]
    fn visible_names_and_joiners_in_context_are_allowed() {
        for name in [
            "Amir Khan",
            "Ａｍｉｒ Ｋｈａｎ",
            "Zoë O'Neil-Smith",
            "Siobhán Ní Bhriain",
            "Дмитрий",
            "محمد",
            // A Persian surname with a non-joiner between two joining letters.
            "ابراهیم\u{200C}زاده",
            // Devanagari: a joiner after a virama.
            "क\u{094D}\u{200D}ष",
            "李小龍",
        ] {
            assert_eq!(invisible_character(name), None, "{name}");
        }
        assert_eq!(
            invisible_character("\u{200C}محمد"),
            Some('\u{200C}'),
            "a non-joiner with nothing before it"
        );
    }

    #[test]
    fn names_that_look_alike_have_one_form() {
        let amir = match_form("Amir Khan");
        for same in [
            "amir khan",
            "AMIR KHAN",
            "Ａｍｉｒ Ｋｈａｎ",
            "ＡＭＩＲ ＫＨＡＮ",
            "\u{0410}mir \u{041A}h\u{0430}n",
            "Am\u{0456}r Khan",
            "\u{0391}mir Khan",
            "Am\u{200B}ir Kh\u{00AD}an",
            "A\u{2060}mir \u{200E}Khan\u{202E}",
            "Amir-Khan",
        ] {
            assert_eq!(match_form(same), amir, "{same:?}");
        }
        assert_ne!(match_form("Amit Khan"), amir);
        assert_ne!(match_form("Amira Khan"), amir);
    }

    /// Every Greek and Cyrillic letter that TR39 says reads as basic Latin, with the Latin
    /// spellings it reads as, generated from the confusables data: the letter's prototype
    /// (small capitals read as their letters, accents dropped) against the prototype of
    /// every Latin string of one or two letters. Where TR39 gives `I` or `l` (one prototype),
    /// a capital reads as `I` and a small letter as `l`.
    fn latin_look_alikes() -> Vec<(char, Vec<String>)> {
        use std::collections::HashMap;
        let skeleton = |s: &str| unicode_security::skeleton(s).collect::<String>();
        let letters: Vec<char> = ('A'..='Z').chain('a'..='z').collect();
        let mut latin: HashMap<String, Vec<String>> = HashMap::new();
        let strings = letters.iter().map(|a| a.to_string()).chain(
            letters
                .iter()
                .flat_map(|a| letters.iter().map(move |b| format!("{a}{b}"))),
        );
        for s in strings {
            latin.entry(skeleton(&s)).or_default().push(s);
        }
        let scripts = CodePointMapData::<Script>::new();
        (0..=0x10_FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| {
                c.is_alphabetic() && matches!(scripts.get(c), Script::Greek | Script::Cyrillic)
            })
            .filter_map(|c| {
                let prototype: String = skeleton(&c.to_string())
                    .chars()
                    .map(small_capital_as_letter)
                    .filter(|&p| !is_accent(p))
                    .collect();
                let other_case = if c.is_uppercase() { 'l' } else { 'I' };
                let reads_as: Vec<String> = latin
                    .get(&skeleton(&prototype))?
                    .iter()
                    .filter(|s| !s.contains(other_case))
                    .cloned()
                    .collect();
                (!reads_as.is_empty()).then_some((c, reads_as))
            })
            .collect()
    }

    #[test]
    fn every_greek_and_cyrillic_letter_that_reads_as_latin_links_to_the_latin_spelling() {
        let look_alikes = latin_look_alikes();
        let mut failures = Vec::new();
        for (c, reads_as) in &look_alikes {
            for latin in reads_as {
                let mut pairs = vec![
                    (format!("{c}arry"), format!("{latin}arry")),
                    (format!("Ma{c}ry"), format!("Ma{latin}ry")),
                    (format!("MA{c}RY"), format!("MA{latin}RY")),
                ];
                if c.is_uppercase() {
                    // A word of look-alike capitals alone, as from a Greek keyboard.
                    pairs.push((format!("{c}{c}"), format!("{latin}{latin}")));
                }
                for (spoofed, plain) in pairs {
                    if match_form(&spoofed) != match_form(&plain) {
                        failures.push(format!(
                            "U+{:04X} {spoofed:?} ({:?}) and {plain:?} ({:?})",
                            u32::from(*c),
                            match_form(&spoofed),
                            match_form(&plain)
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let found: String = look_alikes.iter().map(|(c, _)| *c).collect();
        for c in "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαιορυνАВЕКМНОРСТХЅІЈаеорсухѕіјвкмнт".chars()
        {
            assert!(found.contains(c), "{c} is among the letters generated");
        }
        assert!(look_alikes.len() > 100, "{} letters", look_alikes.len());
    }

    #[test]
    fn greek_and_cyrillic_names_agree_in_any_case() {
        for (a, b) in [
            ("ΠΑΠΑΔΟΠΟΥΛΟΣ", "Παπαδόπουλος"),
            ("ηλίας", "ΗΛΊΑΣ"),
            ("Νικόλαος", "ΝΙΚΌΛΑΟΣ"),
            ("Βασιλική", "ΒΑΣΙΛΙΚΉ"),
            ("Μυρτώ", "μυρτώ"),
            ("Бельский", "БЕЛЬСКИЙ"),
            ("Евгения", "евгения"),
        ] {
            assert_eq!(match_form(a), match_form(b), "{a} and {b}");
        }
        // Every letter of either script with a capital, in a word of its own script.
        let scripts = CodePointMapData::<Script>::new();
        let mut checked = 0;
        for small in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let rest = match scripts.get(small) {
                Script::Greek => "ολα",
                Script::Cyrillic => "ола",
                _ => continue,
            };
            let capital: String = small.to_uppercase().collect();
            if !small.is_lowercase() || capital == small.to_string() {
                continue;
            }
            let word = format!("{small}{rest}");
            let forms = [
                match_form(&word),
                match_form(&format!("{capital}{rest}")),
                match_form(&word.to_uppercase()),
            ];
            assert!(
                forms.iter().all(|f| *f == forms[0]),
                "U+{:04X} {word}: {forms:?}",
                u32::from(small)
            );
            checked += 1;
        }
        assert!(checked > 150, "{checked} letters");
    }

    #[test]
    fn look_alikes_link_only_what_they_look_like() {
        let same = [
            ("ΗΟΡΕ", "Hope"),
            ("ΒΕΝ ΜΑΧ", "Ben Max"),
            ("Ηelen", "HELEN"),
            ("Βen Μehta", "ben mehta"),
            ("Ιan", "Ian"),
            ("Sυe", "sue"),
            ("Maϲry", "Macry"),
        ];
        for (a, b) in same {
            assert_eq!(match_form(a), match_form(b), "{a} and {b}");
        }
        let different = [
            ("Ian", "lan"),
            ("Helen", "Nelen"),
            // A small eta reads as n, whatever its capital reads as.
            ("ηelen", "Helen"),
            ("Ben", "ßen"),
        ];
        for (a, b) in different {
            assert_ne!(match_form(a), match_form(b), "{a} and {b}");
        }
    }

    #[test]
    fn the_old_rules_still_hold() {
        let pairs = [
            ("O'Neil-Smith", "oneil smith"),
            ("O\u{2019}Neil", "ONEIL"),
            ("Zoë", "Zoe"),
            ("Zoe\u{308}", "ZOË"),
            ("St. John", "stjohn"),
            ("Brontë", "Bronte"),
            ("Łukasz", "Lukasz"),
            ("Øystein", "Oystein"),
            ("Straße", "Strasse"),
            ("Æsir", "aesir"),
            ("Dmitry", "DMITRY"),
            ("Œdipe", "oedipe"),
            ("Şahin", "Sahin"),
            ("Mądry", "Madry"),
            ("Ţepeş", "Tepes"),
            ("Yıldız", "Yildiz"),
            ("Đorđević", "Dordevic"),
        ];
        for (a, b) in pairs {
            assert_eq!(match_form(a), match_form(b), "{a} and {b}");
        }
        assert_eq!(
            match_form("Дмитрий"),
            match_form("ДМИТРИЙ"),
            "Cyrillic case"
        );
        assert_eq!(
            match_form("Σίσυφος"),
            match_form("ΣΊΣΥΦΟΣ"),
            "Greek final sigma"
        );
        assert_eq!(match_form("-'. "), "", "punctuation alone is nothing");
        assert_eq!(
            match_form("\u{200B}"),
            "",
            "an invisible character alone is nothing"
        );
    }
}
