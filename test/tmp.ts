/**
 * Temporary directories for a test file: made under the system's temporary directory and
 * removed after the file's last test, passed or failed, so that runs leave nothing
 * behind. VPIO_KEEP_TMP=1 keeps them (their paths are in the failures) to look into.
 *
 * Importing this registers the removal (an afterAll at the file's top level), so a
 * directory may be asked for anywhere: at the top of the file, in a helper, in a test.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const made: string[] = [];

afterAll(() => {
  if (process.env.VPIO_KEEP_TMP) return;
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new, empty directory whose name starts with `prefix`, removed after the file's tests. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
