import { Clock } from './clock';

describe('Clock', () => {
  it('fires timers in cycle order, ties in arming order, and advances now', () => {
    const clock = new Clock(2e9);
    const fired: string[] = [];
    const a = clock.timer('a', (t) => fired.push(`a@${t}`));
    const b = clock.timer('b', (t) => fired.push(`b@${t}`));
    const c = clock.timer('c', (t) => fired.push(`c@${t}`));
    c.arm(300); a.arm(100); b.arm(100);
    expect(clock.nextDue()).toBe(100);
    clock.advanceTo(250);
    expect(fired).toEqual(['a@100', 'b@100']);
    expect(clock.now).toBe(250);
    clock.advanceTo(1000);
    expect(fired).toEqual(['a@100', 'b@100', 'c@300']);
    expect(clock.nextDue()).toBe(Infinity);
  });

  it('re-arms and cancels without duplicates, and lets a timer re-arm itself when it fires', () => {
    const clock = new Clock(1e6);
    let n = 0;
    const periodic = clock.timer('tick', (t) => { n++; periodic.arm(t + 10); });
    const once = clock.timer('once', () => { throw new Error('cancelled timer fired'); });
    periodic.arm(10); periodic.arm(10);
    once.arm(15); once.cancel();
    clock.advanceTo(100);
    expect(n).toBe(10);
    expect(periodic.armed).toBe(true);
    expect(once.armed).toBe(false);
  });

  it('never schedules in the past', () => {
    const clock = new Clock(1e6);
    clock.advanceTo(500);
    const t = clock.timer('late', () => {});
    t.arm(100);
    expect(t.at).toBe(500);
  });
});
