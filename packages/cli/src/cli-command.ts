/** Where a command writes and what environment it sees (injectable for tests). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** One subcommand of `ferry`. */
export interface CliCommand {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Runs the command with the arguments after its name; resolves with the exit status. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}
