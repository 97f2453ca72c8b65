// Yes-or-no settings from the environment (QCONF_SEAL, QCONFD_REQUIRE_SEAL): the words people
// write for them, one rule for the client and the daemon.

/** `1`, `true`, `yes` → true; `0`, `false`, `no` or empty → false (any case, spaces ignored); anything else → undefined. */
export function yesNo(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (t === '1' || t === 'true' || t === 'yes') return true;
  if (t === '' || t === '0' || t === 'false' || t === 'no') return false;
  return undefined;
}

/** What a message says a yes-or-no setting takes. */
export const YES_NO_WORDS = 'yes (1, true, yes) nor no (0, false, no)';
