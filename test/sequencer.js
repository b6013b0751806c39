/**
 * The order Jest starts test files in: the long ones first (the Linux boots, the CPU
 * fuzzer, the bench, the translator), then Jest's own order (the last run's durations
 * where its cache has them, else file size). On a fresh clone Jest has no durations and
 * would start the small Linux files last, leaving one worker running boots for minutes
 * after the other is done; long first, the two workers finish together.
 */
const Sequencer = require('@jest/test-sequencer').default;

const LONG = [/test\/linux-native\.test/, /test\/linux-modes\.test/, /test\/linux-sharing\.test/, /cpu\/fuzz\.test/, /test\/bench\.test/, /cpu\/translator\.test/, /test\/linux-bench\.test/];
const rank = (path) => { const i = LONG.findIndex((re) => re.test(path)); return i < 0 ? LONG.length : i; };

class LongFirst extends Sequencer {
  async sort(tests) {
    const ordered = await super.sort(tests);
    // A stable sort: the long files in the order above, then the rest in Jest's order.
    return [...ordered].sort((a, b) => rank(a.path) - rank(b.path));
  }
}

module.exports = LongFirst;
