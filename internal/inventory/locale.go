package inventory

import (
	"bytes"
	"strings"

	"golang.org/x/text/language"
)

// languages returns the BCP 47 tags of the configured locales: the system default (LANG,
// LANGUAGE in /etc/default/locale or /etc/locale.conf) and the generated ones (/etc/locale.gen).
// Updates may be language-specific, so every locale the machine offers counts.
func (c *Collector) languages() []string {
	var names []string
	for _, file := range []string{"etc/default/locale", "etc/locale.conf"} {
		// Values from a partly malformed file are still the machine's settings.
		vars, _ := ParseOSRelease(bytes.NewReader(c.readOptional(file)))
		names = append(names, vars["LANG"])
		// LANGUAGE is a priority list: "de_CH:de:en".
		names = append(names, strings.Split(vars["LANGUAGE"], ":")...)
	}
	for line := range strings.Lines(string(c.readOptional("etc/locale.gen"))) {
		// "de_CH.UTF-8 UTF-8"; commented lines are the locales not generated.
		if fields := strings.Fields(line); len(fields) > 0 && !strings.HasPrefix(fields[0], "#") {
			names = append(names, fields[0])
		}
	}
	var tags []string
	for _, name := range names {
		if tag, ok := LocaleToBCP47(name); ok {
			tags = append(tags, tag)
		}
	}
	return sortedUnique(tags)
}

// LocaleToBCP47 converts a POSIX locale name (language[_territory][.codeset][@modifier]) to a
// BCP 47 tag: "de_CH.UTF-8" gives "de-CH", "sr_RS@latin" gives "sr-Latn-RS". The C and POSIX
// locales, which name no language, give false.
func LocaleToBCP47(name string) (string, bool) {
	name, modifier, _ := strings.Cut(strings.TrimSpace(name), "@")
	name, _, _ = strings.Cut(name, ".")
	if name == "" || name == "C" || name == "POSIX" {
		return "", false
	}
	lang, region, _ := strings.Cut(name, "_")
	parts := []string{lang}
	switch modifier { // the modifiers that name a script or a variant; others (euro) do not
	case "latin":
		parts = append(parts, "Latn")
	case "cyrillic":
		parts = append(parts, "Cyrl")
	}
	if region != "" {
		parts = append(parts, region)
	}
	if modifier == "valencia" {
		parts = append(parts, "valencia")
	}
	tag, err := language.Parse(strings.Join(parts, "-"))
	if err != nil || tag == language.Und {
		return "", false
	}
	return tag.String(), true
}
