// NATS subjects in the config: whether one is valid, and whether two patterns (`*` one token, `>`
// one or more, last) can match a common subject.

/** Why `s` is not a valid NATS subject, or `undefined` when it is. */
export const subjectProblem = (s: string): string | undefined => {
  if (s.length === 0) return "empty subject"
  if (/\s/.test(s)) return "contains whitespace"
  const tokens = s.split(".")
  if (tokens.some((t) => t.length === 0)) return "empty token"
  const i = tokens.findIndex((t) => t !== "*" && t !== ">" && /[*>]/.test(t))
  if (i >= 0) return `wildcards * and > must be whole tokens ("${tokens[i]}")`
  if (tokens.slice(0, -1).includes(">")) return "> must be the last token"
  return undefined
}

/** Whether some subject matches both patterns (`*` = one token, `>` = one or more, last). */
export const subjectsOverlap = (a: string, b: string): boolean => {
  const x = a.split("."), y = b.split(".")
  for (let i = 0; ; i++) {
    const s = x[i], t = y[i]
    if (s === undefined || t === undefined) return s === t
    if (s === ">" || t === ">") return true
    if (s !== "*" && t !== "*" && s !== t) return false
  }
}

/** Whether `pattern` (a configured subject, wildcards allowed) captures `subject`, a literal subject. */
export const subjectCaptures = (pattern: string, subject: string): boolean =>
  subjectProblem(subject) === undefined && !subject.split(".").some((t) => t === "*" || t === ">") && subjectsOverlap(pattern, subject)
