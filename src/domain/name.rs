//! Personal names: which characters a stored name may not hold, and the form in which two
//! names are compared to link repeat referrals about one person.
//!
//! Linking must not be dodged by characters that cannot be seen (U+200B), by full-width or
//! other compatibility forms (`Ａｍｉｒ`), by case, or by letters of another script that look
//! the same (Cyrillic `А` for Latin `A`). Comparison therefore uses the confusable skeleton
//! of Unicode Technical Standard #39 over an NFKC-normalised, case-folded name.

use icu_properties::props::{
    BidiControl, CanonicalCombiningClass, DefaultIgnorableCodePoint, GeneralCategory, JoiningType,
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
/// The steps: NFKC (full-width and other compatibility forms become plain letters); invisible
/// characters dropped; full Unicode case folding; the TR39 skeleton; then spaces,
/// hyphens, apostrophes, dots and accents dropped, so `O'Neil-Smith`, `oneil smith` and
/// `Zoë`/`Zoe` agree as they always have.
pub fn match_form(name: &str) -> String {
    let visible: String = name.nfkc().filter(|&c| !is_invisible(c)).collect();
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
