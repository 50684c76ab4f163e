/**
 * Display: what the cardholder and the operator read.
 *
 * The core decides every word (amounts, prompts, "****" for PIN progress) and lays it out in
 * `columns` x `rows` characters; the adapter only draws. So PIN digits can only reach a display
 * if the core puts them there, which the PIN-entry module never does (ARCHITECTURE §3).
 * Adapters: a Poco screen where the platform has one (the simulator, boards with a display), a
 * text console (trace) on boards without.
 */
export interface Screen {
  /** First line, shown emphasised where the display can. */
  title: string;
  /** Body lines; adapters clip to columns and to rows - 1. */
  lines: readonly string[];
}

export interface Display {
  readonly columns: number;
  readonly rows: number;
  /** Replaces everything on the display. */
  show(screen: Screen): void;
}
