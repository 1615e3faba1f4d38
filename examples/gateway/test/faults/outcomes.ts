/**
 * How the fault scenarios count what they saw: every answer is accepted (2xx), refused (401/403),
 * limited (429), deferred (503) or other (anything else, which no scenario may produce), per phase of
 * the scenario (before the fault, during it, after it ends). docs/SECURITY.md shows the same tallies.
 */
export type Outcome = "accepted" | "refused" | "limited" | "deferred" | "other"

export const outcomeOf = (status: number): Outcome => {
  if (status >= 200 && status < 300) return "accepted"
  if (status === 401 || status === 403) return "refused"
  if (status === 429) return "limited"
  if (status === 503) return "deferred"
  return "other"
}

export type Tally = Record<Outcome, number>

export const tally = (statuses: ReadonlyArray<number>): Tally => {
  const counts: Tally = { accepted: 0, refused: 0, limited: 0, deferred: 0, other: 0 }
  for (const status of statuses) counts[outcomeOf(status)]++
  return counts
}

/** One line of an outcome table, printed by the scenarios so that a run shows what it measured. */
export const tableRow = (scenario: string, phase: string, counts: Tally): string =>
  `| ${scenario} | ${phase} | ${counts.accepted} | ${counts.refused} | ${counts.limited} | ${counts.deferred} | ${counts.other} |`
