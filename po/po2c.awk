# po2c.awk: compiles a gettext PO file into a C table for pam_mss.
#
#	LC_ALL=C awk -v lang=fr -f po2c.awk [pam_mss.pot] fr.po > pam_mss_fr.c
#
# The output defines pam_mss_msg_<lang>[] (struct pam_mss_msg_tr, see
# pam_mss/pam_mss_msg.h), sorted by msgid in strcmp() order, and
# pam_mss_msg_<lang>_count. Run it under LC_ALL=C so that awk compares
# strings byte by byte, as strcmp() does.
#
# The module cannot use a .mo file at run time (see pam_mss_msg.h), so
# this is where a catalogue is checked, and it is strict: it refuses fuzzy
# entries, empty translations, duplicates, contexts, plural entries with
# other than two forms (msgstr[0] and msgstr[1]: French and English have
# two; pam_mss_msg.c chooses between them), escapes other than \" \\ \n \t, a header without charset=UTF-8 or with
# another Language, and a translation whose %s, %u and %% placeholders
# differ in number from its msgid's (msgstr[1]: from its msgid_plural's;
# the formatter substitutes them by
# kind, so their order is free). A '%' must start one of the three.
# When a template (.pot) comes first, every msgid of the template needs a
# translation and every translation a msgid of the template. Errors name
# FILE:LINE; nothing is printed to stdout unless the whole file is good.

BEGIN {
	if (lang !~ /^[a-z][a-z](_[A-Z][A-Z])?$/ || ARGC < 2 || ARGC > 3) {
		err("usage: po2c.awk -v lang=LL [template.pot] LL.po")
		fatal = 1
		exit 1
	}
	tmplfile = ARGC == 3 ? ARGV[1] : ""
	pofile = ARGV[ARGC - 1]
	nout = errors = 0
	reset()
}

FNR == 1 {
	flush()
	cur = FILENAME
	intmpl = cur == tmplfile
}

# A blank line ends an entry; so does a comment after a msgstr.
/^[ \t]*$/ {
	flush()
	next
}

/^#~/ {
	# An obsolete entry, kept by msgmerge for reference.
	flush()
	next
}

/^#,/ {
	if (state == "msgstr")
		flush()
	if ($0 ~ /[ ,]fuzzy([ ,]|$)/)
		fuzzy = FNR
	next
}

/^#/ {
	if (state == "msgstr")
		flush()
	next
}

/^msgctxt[ \t]/ {
	fail("msgctxt is not supported")
	next
}

/^msgid_plural[ \t]/ {
	if (state != "msgid") {
		fail("msgid_plural without a msgid")
		next
	}
	state = "msgid_plural"
	plural = 1
	msgidpl = quoted(substr($0, 13))
	next
}

/^msgstr\[[01]\][ \t]/ {
	if (state != "msgid_plural" && state != "msgstr0") {
		fail("msgstr[N] without a msgid_plural")
		next
	}
	if (substr($0, 8, 1) == "0") {
		if (state != "msgid_plural") {
			fail("msgstr[0] out of order")
			next
		}
		strline = FNR
		state = "msgstr0"
		msgstr = quoted(substr($0, 10))
	} else {
		if (state != "msgstr0") {
			fail("msgstr[1] before msgstr[0]")
			next
		}
		strline1 = FNR
		state = "msgstr"
		msgstr1 = quoted(substr($0, 10))
	}
	next
}

/^msgstr\[/ {
	fail("only two plural forms (msgstr[0], msgstr[1]) are supported")
	next
}

/^msgid[ \t]/ {
	if (state != "")
		flush()
	idline = FNR
	state = "msgid"
	msgid = quoted(substr($0, 6))
	next
}

/^msgstr[ \t]/ {
	if (state != "msgid" || plural) {
		fail("msgstr without a msgid")
		next
	}
	strline = FNR
	state = "msgstr"
	msgstr = quoted(substr($0, 7))
	next
}

/^[ \t]*"/ {
	if (state == "msgid")
		msgid = msgid quoted($0)
	else if (state == "msgid_plural")
		msgidpl = msgidpl quoted($0)
	else if (state == "msgstr0" || (state == "msgstr" && !plural))
		msgstr = msgstr quoted($0)
	else if (state == "msgstr")
		msgstr1 = msgstr1 quoted($0)
	else
		fail("a string outside an entry")
	next
}

{
	fail("syntax error")
}

END {
	if (fatal)
		exit 1
	flush()
	if (!sawheader) {
		err(pofile ": no header entry (msgid \"\")")
		errors++
	}
	if (tmplfile != "")
		for (k in tmplline)
			if (!(k in seen)) {
				err(pofile ": no translation for \"" k "\" (" \
				    tmplfile ":" tmplline[k] ")")
				errors++
			}
	if (nout == 0 && errors == 0) {
		err(pofile ": no translations")
		errors++
	}
	if (errors > 0)
		exit 1
	emit()
}

function err(msg) {
	print "po2c.awk: " msg | "cat 1>&2"
}

function fail(msg) {
	err(FILENAME ":" FNR ": " msg)
	errors++
}

function reset() {
	state = ""
	msgid = msgstr = msgidpl = msgstr1 = ""
	idline = strline = strline1 = fuzzy = plural = 0
}

# The contents of a "..." string on its own, escapes checked, still escaped
# (the escapes allowed are the same in C).
function quoted(s,    body, rest) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	if (s !~ /^"([^"\\]|\\.)*"$/) {
		fail("expected one \"...\" string")
		return ""
	}
	body = substr(s, 2, length(s) - 2)
	rest = body
	gsub(/\\[\\"nt]/, "", rest)
	if (index(rest, "\\") > 0)
		fail("unsupported escape (only \\\" \\\\ \\n \\t)")
	if (rest ~ /[\001-\037\177]/)
		fail("control character in a string; use \\n or \\t")
	return body
}

# The bytes an escaped string stands for, for sorting.
function unescape(s,    out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\\") {
			i++
			c = substr(s, i, 1)
			if (c == "n")
				c = "\n"
			else if (c == "t")
				c = "\t"
		}
		out = out c
	}
	return out
}

# "s u %" counts of the placeholders; "" when a '%' starts none of them.
function placeholders(s,    i, c, ns, nu, np) {
	ns = nu = np = 0
	for (i = 1; i <= length(s); i++) {
		if (substr(s, i, 1) != "%")
			continue
		c = substr(s, i + 1, 1)
		if (c == "s")
			ns++
		else if (c == "u")
			nu++
		else if (c == "%")
			np++
		else
			return ""
		i++
	}
	return ns " " nu " " np
}

function flush() {
	if (state == "") {
		if (fuzzy)
			entryerr(fuzzy, "a fuzzy flag without an entry")
	} else if (state != "msgstr") {
		entryerr(idline, "msgid without a msgstr")
	} else if (msgid == "") {
		header(msgstr)
	} else if (intmpl) {
		tmplline[msgid] = idline
		tmplplural[msgid] = plural
	} else {
		entry()
	}
	reset()
}

# An error about the entry being flushed, which may be in the previous file.
function entryerr(line, msg) {
	err(cur ":" line ": " msg)
	errors++
}

function header(h) {
	if (intmpl)
		return
	if (sawheader++)
		entryerr(idline, "a second header entry")
	if (fuzzy)
		entryerr(fuzzy, "the header is fuzzy")
	if (tolower(h) !~ /content-type: [^\\]*charset=utf-8/)
		entryerr(idline, "the header must say charset=UTF-8")
	if (h !~ ("(^|\\\\n)Language: " lang "(\\\\n|$)"))
		entryerr(idline, "the header must say Language: " lang)
}

function entry(    phid, phstr) {
	if (fuzzy) {
		entryerr(fuzzy, "fuzzy entry; review the translation and " \
		    "remove the fuzzy flag")
		return
	}
	if (msgid in seen) {
		entryerr(idline, "duplicate msgid (first at line " \
		    seen[msgid] ")")
		return
	}
	seen[msgid] = idline
	if (tmplfile != "" && !(msgid in tmplline))
		entryerr(idline, "msgid not in " tmplfile \
		    "; run make update-po")
	else if (tmplfile != "" && tmplplural[msgid] != plural)
		entryerr(idline, "plural forms differ from " tmplfile \
		    "; run make update-po")
	if (msgstr == "" || (plural && msgstr1 == "")) {
		entryerr(plural && msgstr != "" ? strline1 : strline,
		    "empty translation")
		return
	}
	if (plural && !checkph(msgidpl, msgstr1, strline1))
		return
	if (!checkph(msgid, msgstr, strline))
		return
	nout++
	outid[nout] = msgid
	outstr[nout] = msgstr
	outstr1[nout] = plural ? "\"" msgstr1 "\"" : "NULL"
	outkey[nout] = unescape(msgid)
}

# 1 when the placeholders of str (at line) match those of id.
function checkph(id, str, line,    phid, phstr) {
	phid = placeholders(unescape(id))
	phstr = placeholders(unescape(str))
	if (phid == "") {
		entryerr(idline, "a '%' in the msgid is not %s, %u or %%")
		return 0
	}
	if (phstr == "") {
		entryerr(line, "a '%' in the msgstr is not %s, %u or %% " \
		    "(write a percent sign as %%)")
		return 0
	}
	if (phid != phstr) {
		entryerr(line, "placeholders differ from the msgid's " \
		    "(counts of %s %u %%: msgid " phid ", msgstr " phstr ")")
		return 0
	}
	return 1
}

# Insertion sort by the unescaped msgid (bytewise under LC_ALL=C), then
# the table.
function emit(    i, j, tid, tstr, tstr1, tkey) {
	for (i = 2; i <= nout; i++) {
		tid = outid[i]
		tstr = outstr[i]
		tstr1 = outstr1[i]
		tkey = outkey[i]
		for (j = i - 1; j >= 1 && outkey[j] > tkey; j--) {
			outid[j + 1] = outid[j]
			outstr[j + 1] = outstr[j]
			outstr1[j + 1] = outstr1[j]
			outkey[j + 1] = outkey[j]
		}
		outid[j + 1] = tid
		outstr[j + 1] = tstr
		outstr1[j + 1] = tstr1
		outkey[j + 1] = tkey
	}
	print "/* Generated from po/" lang ".po by po/po2c.awk; do not edit. */"
	print "#include <stddef.h>"
	print ""
	print "#include \"pam_mss/pam_mss_msg.h\""
	print ""
	print "const struct pam_mss_msg_tr pam_mss_msg_" lang "[] = {"
	for (i = 1; i <= nout; i++) {
		print "\t{ \"" outid[i] "\","
		print "\t  \"" outstr[i] "\","
		print "\t  " outstr1[i] " },"
	}
	print "};"
	print ""
	print "const size_t pam_mss_msg_" lang "_count ="
	print "    sizeof(pam_mss_msg_" lang ") / sizeof(pam_mss_msg_" lang \
	    "[0]);"
}
