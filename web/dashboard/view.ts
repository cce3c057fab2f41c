/**
 * Draws the live model into the page. Every string from the master goes in as text (never as HTML), so
 * an agent id or a hook name cannot inject markup.
 */
import {
  ago,
  clockTime,
  describeRecord,
  describeTrigger,
  formatDuration,
  groupsInOrder,
  isOutageRecord,
  type LiveAgent,
  type LiveModel,
  memberStateText,
  numVar,
  runMember,
  statusWords,
  type Tone,
} from '../../master/dashboard/live-model.js';
import type { EarlyGroupView, StepView } from '../../master/sequencer/sequence-view.js';

type Child = Node | string | null | undefined | false;

/** A tiny element builder: attributes, then children (strings become text nodes). */
export function h(
  tag: string,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function chip(text: string, tone: Tone, title?: string): HTMLElement {
  return h('span', { class: `chip tone-${tone}`, title }, text);
}

const GAUGE_LENGTH = 157.08; // the arc's length: π × 50

function gauge(id: string, fraction: number | null, text: string, tone: Tone): void {
  const fig = byId(id);
  const fill = fig.querySelector<SVGPathElement>('.fill');
  if (fill) {
    fill.style.strokeDasharray = `${GAUGE_LENGTH}`;
    fill.style.strokeDashoffset = `${GAUGE_LENGTH * (1 - Math.max(0, Math.min(1, fraction ?? 0)))}`;
  }
  fig.dataset.tone = tone;
  const value = fig.querySelector('b');
  if (value) value.textContent = text;
}

export function renderHeader(m: LiveModel): void {
  byId('master-id').textContent = `${m.master.id} · ${m.master.version}`;
  const seq = byId('seq-pill');
  const s = m.sequence;
  seq.textContent =
    s.state === 'idle'
      ? 'sequence idle'
      : `${s.drill ? 'drill' : 'SHUTDOWN'} ${s.state === 'done' ? 'done' : s.state}`;
  seq.className = `pill tone-${s.state === 'idle' || s.state === 'done' ? 'info' : s.drill ? 'warn' : 'bad'}`;
  const crit = byId('crit-pill');
  crit.hidden = !m.policy.critical;
  crit.textContent = m.policy.critical ? `CRITICAL: ${m.policy.reason ?? ''}` : '';
  crit.className = 'pill tone-bad';
  byId('simulate-form').hidden = m.master.source !== 'simulated';
  document.title = `${m.policy.critical ? '⚠ ' : ''}upsfleet · ${m.master.id}`;
}

export function renderUps(m: LiveModel, now: number): void {
  const { vars } = m.ups;
  byId('ups-name').textContent = m.ups.name;
  const status = byId('ups-status');
  const chips = statusWords(vars['ups.status']).map((w) => chip(w.word, w.tone, w.token));
  if (m.ups.waiting) chips.unshift(chip('waiting for the first reading', 'info'));
  if (m.ups.stale) chips.unshift(chip(`not communicating: ${m.ups.staleReason ?? ''}`, 'bad'));
  if (m.policy.onBatterySince !== null)
    chips.push(chip(`on battery for ${formatDuration(now - m.policy.onBatterySince)}`, 'warn'));
  status.replaceChildren(...chips);
  status.dataset.status = vars['ups.status'] ?? '';

  const charge = numVar(vars, 'battery.charge');
  const low = numVar(vars, 'battery.charge.low') ?? 20;
  gauge(
    'charge-gauge',
    charge === null ? null : charge / 100,
    charge === null ? '-' : `${Math.round(charge)}%`,
    charge === null ? 'info' : charge <= low ? 'bad' : charge < 50 ? 'warn' : 'ok',
  );
  const runtime = numVar(vars, 'battery.runtime');
  const required = m.plan.requiredMs + m.plan.marginMs;
  const maxSeen = Math.max(...m.history.map((p) => p.runtime ?? 0), runtime ?? 0, 1);
  gauge(
    'runtime-gauge',
    runtime === null ? null : runtime / maxSeen,
    runtime === null ? '-' : formatDuration(runtime * 1000),
    runtime === null
      ? 'info'
      : runtime * 1000 < required
        ? 'bad'
        : runtime * 1000 < 2 * required
          ? 'warn'
          : 'ok',
  );

  const rows: Array<[string, string | undefined]> = [
    ['input', vars['input.voltage'] && `${vars['input.voltage']} V`],
    ['output', vars['output.voltage'] && `${vars['output.voltage']} V`],
    ['load', vars['ups.load'] && `${vars['ups.load']}%`],
    [
      'model',
      [vars['device.mfr'] ?? vars['ups.mfr'], vars['device.model'] ?? vars['ups.model']]
        .filter(Boolean)
        .join(' ') || undefined,
    ],
    ['updated', m.ups.updatedAt === null ? undefined : ago(m.ups.updatedAt, now)],
  ];
  byId('ups-vars').replaceChildren(
    ...rows.filter(([, v]) => v).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-var': k }, v!)]),
  );

  const p = m.plan;
  const plan = byId('plan');
  const need = formatDuration(p.requiredMs);
  const source = p.drill
    ? `measured by the drill of ${new Date(p.drill.at).toLocaleString()}`
    : 'from the step deadlines (no drill yet)';
  const verdict =
    p.fits === null
      ? 'battery runtime unknown'
      : p.fits
        ? `fits, ${formatDuration(p.spareMs)} to spare`
        : `DOES NOT FIT: ${formatDuration(-(p.spareMs ?? 0))} short`;
  const total = Math.max(p.runtimeMs ?? 0, p.requiredMs + p.marginMs, 1);
  const bar = h('div', { class: `bar${p.fits === false ? ' short' : ''}` });
  const seqBar = h('span');
  seqBar.style.width = `${(100 * p.requiredMs) / total}%`;
  const marginBar = h('span', { class: 'margin' });
  marginBar.style.left = `${(100 * p.requiredMs) / total}%`;
  marginBar.style.width = `${(100 * p.marginMs) / total}%`;
  bar.append(seqBar, marginBar);
  plan.replaceChildren(
    h(
      'div',
      {},
      h('b', {}, 'Battery plan: '),
      h(
        'span',
        { id: 'plan-verdict', class: `tone-${p.fits === false ? 'bad' : p.fits ? 'ok' : 'info'}` },
        verdict,
      ),
    ),
    bar,
    h(
      'div',
      { class: 'muted' },
      `the sequence needs ${need} (${source}) + ${formatDuration(p.marginMs)} margin, of ${p.runtimeMs === null ? 'unknown' : formatDuration(p.runtimeMs)} runtime`,
    ),
  );
}

function memberRow(a: LiveAgent | undefined, id: string, m: LiveModel, now: number): HTMLElement {
  const run = m.sequence.runId ? runMember(m.sequence, id) : undefined;
  const state = run ? memberStateText(run) : null;
  const conn = a?.connected ?? false;
  // an SSH target has no agent: its address stands where the version would, and "connected" means its
  // last probe logged in with the pinned host key; what is wrong (a refused key, a failed command) is shown
  const ssh = a?.kind === 'ssh';
  const why = run?.cutShortWhy ?? a?.problem;
  return h(
    'tr',
    {
      'data-agent': id,
      'data-kind': a?.kind,
      'data-connected': conn ? 'yes' : 'no',
      'data-state': run?.state,
    },
    h(
      'td',
      {},
      h('span', {
        class: `dot${conn ? ' on' : ''}`,
        title: ssh
          ? conn
            ? 'reachable over SSH'
            : 'not reachable over SSH'
          : conn
            ? 'connected'
            : 'not connected',
      }),
      h('b', {}, id),
      a?.kind === 'nut' ? h('span', { class: 'tag' }, 'NUT') : null,
      ssh ? h('span', { class: 'tag', title: 'powered off over SSH (no agent)' }, 'SSH') : null,
      a?.dryRun ? h('span', { class: 'tag' }, 'dry-run') : null,
    ),
    h('td', { class: 'version' }, ssh ? (a?.address ?? '-') : (a?.version ?? '-')),
    h(
      'td',
      { class: 'seen', title: a?.problem },
      ssh
        ? conn
          ? 'reachable'
          : a?.problem
            ? 'unreachable'
            : 'not probed yet'
        : conn
          ? 'connected'
          : `seen ${ago(a?.lastSeen, now)}`,
    ),
    h(
      'td',
      { class: 'state' },
      state ? h('span', { class: `chip tone-${state.tone}`, title: why }, state.text) : '',
      why && (run?.cutShortWhy || (ssh && !conn)) ? h('div', { class: 'muted why' }, why) : null,
    ),
  );
}

function stageHeader(
  title: string,
  sub: string,
  run: StepView | EarlyGroupView | undefined,
  now: number,
): HTMLElement {
  let state = '';
  let tone: Tone = 'info';
  if (run && run.state !== 'waiting') {
    if (run.state === 'done') {
      state =
        run.endedBy === 'deadline'
          ? 'ended by its deadline'
          : `done in ${formatDuration((run.endedAt ?? now) - (run.startedAt ?? now))}`;
      tone = run.endedBy === 'deadline' ? 'bad' : 'ok';
    } else {
      state = `${run.state}${run.deadline ? `, deadline in ${formatDuration(run.deadline - now)}` : ''}`;
      tone = 'warn';
    }
  }
  return h(
    'header',
    {},
    h('span', {}, h('b', {}, title), ' ', h('span', { class: 'muted' }, sub)),
    state ? h('span', { class: `chip tone-${tone}` }, state) : null,
  );
}

export function renderFleet(m: LiveModel, now: number): void {
  const agentsById = new Map(m.agents.map((a) => [a.id, a]));
  const membersOf = (group: string): string[] => {
    const ids = new Set(m.agents.filter((a) => a.group === group).map((a) => a.id));
    for (const s of [...m.sequence.steps, ...m.sequence.early])
      for (const mem of s.members) if (mem.group === group) ids.add(mem.id);
    return [...ids].sort();
  };
  const table = (groups: string[]) =>
    h(
      'table',
      { class: 'members' },
      h(
        'tbody',
        {},
        ...groups.flatMap((g) => {
          const ids = membersOf(g);
          return ids.length === 0
            ? [h('tr', {}, h('td', { colspan: '4', class: 'muted' }, `${g}: no member known yet`))]
            : ids.map((id) => memberRow(agentsById.get(id), id, m, now));
        }),
      ),
    );
  const blocks: HTMLElement[] = [];
  for (const e of m.layout.early) {
    const run = m.sequence.early.find((x) => x.group === e.name);
    blocks.push(
      h(
        'div',
        { class: 'step early', 'data-early': e.name },
        stageHeader(
          `Early: ${e.name}`,
          `leaves ${describeTrigger(e.trigger)} · deadline ${formatDuration(e.deadlineMs)}`,
          run,
          now,
        ),
        table([e.name]),
      ),
    );
  }
  for (const s of m.layout.steps) {
    const run = m.sequence.steps.find((x) => x.index === s.index);
    blocks.push(
      h(
        'div',
        { class: 'step', 'data-step': String(s.index) },
        stageHeader(
          `Step ${s.index}`,
          `${s.groups.join(' + ')} · deadline ${formatDuration(s.deadlineMs)}`,
          run,
          now,
        ),
        table(s.groups),
      ),
    );
  }
  const f = m.sequence.final;
  const killpower = [...m.journal].reverse().find((r) => r.kind === 'killpower' || r.kind === 'drill-final');
  blocks.push(
    h(
      'div',
      { class: 'step final', 'data-step': 'final' },
      h(
        'header',
        {},
        h(
          'span',
          {},
          h('b', {}, 'Final step'),
          ' ',
          h('span', { class: 'muted' }, `${m.master.id} (master): hooks, killpower, power-off`),
        ),
        f.startedAt !== null
          ? h(
              'span',
              { class: `chip tone-${f.error ? 'bad' : f.endedAt ? 'ok' : 'warn'}` },
              f.error ? `failed: ${f.error}` : f.endedAt ? 'done' : 'running',
            )
          : null,
      ),
      killpower && f.startedAt !== null && (killpower.ts ?? 0) >= f.startedAt
        ? h('p', { class: 'muted', style: undefined }, describeRecord(killpower))
        : null,
    ),
  );
  const stray = groupsInOrder(m).filter(
    (g) => g.step === null && !m.layout.early.some((e) => e.name === g.group),
  );
  if (stray.length > 0)
    blocks.push(
      h(
        'div',
        { class: 'step' },
        stageHeader('Not in the sequence', stray.map((g) => g.group).join(', '), undefined, now),
        table(stray.map((g) => g.group)),
      ),
    );
  byId('fleet').replaceChildren(...blocks);
}

function feedItem(ts: number | undefined, text: string, attrs: Record<string, string> = {}): HTMLElement {
  return h('li', attrs, h('time', {}, clockTime(ts)), h('span', {}, text));
}

export function renderLive(m: LiveModel): void {
  const s = m.sequence;
  const since = s.startedAt ?? 0;
  const records = m.journal.filter(
    (r) => isOutageRecord(r) && (s.startedAt === null || (r.ts ?? 0) >= since - 60_000),
  );
  byId('run-title').textContent = s.runId
    ? `${s.drill ? 'drill' : 'shutdown'} ${s.runId} · ${s.state}${s.reason ? ` · ${s.reason}` : ''}`
    : 'no sequence since the master started';
  const list = byId('live-feed');
  list.replaceChildren(
    ...records
      .slice(-80)
      .reverse()
      .map((r) => feedItem(r.ts, describeRecord(r), { 'data-kind': String(r.event ?? r.kind) })),
  );
  if (records.length === 0)
    list.append(
      h('li', { class: 'muted' }, 'power events, orders, acks and hooks appear here as they happen'),
    );
}

export function renderJournal(m: LiveModel): void {
  byId('journal').replaceChildren(
    ...m.journal
      .slice(-100)
      .reverse()
      .map((r) => feedItem(r.ts, `#${r.seq} ${describeRecord(r)}`)),
  );
}

export function renderDrill(m: LiveModel): void {
  const d = m.lastDrill;
  const box = byId('drill-report');
  if (!d) {
    box.replaceChildren(
      h('p', { class: 'muted' }, 'no drill yet: a drill measures how long the sequence takes'),
    );
    return;
  }
  box.replaceChildren(
    h(
      'p',
      {},
      h(
        'span',
        { class: `chip tone-${d.ok ? 'ok' : 'bad'}`, id: 'drill-verdict' },
        d.ok ? 'passed' : `${d.failures} failure(s)`,
      ),
      ` ${new Date(d.startedAt).toLocaleString()} · ${d.hosts.length} hosts in ${formatDuration(d.durationMs)}`,
    ),
    h(
      'table',
      { class: 'report' },
      h(
        'thead',
        {},
        h('tr', {}, h('th', {}, 'step'), h('th', {}, 'groups'), h('th', {}, 'took'), h('th', {}, 'ended')),
      ),
      h(
        'tbody',
        {},
        ...d.steps.map((s) =>
          h(
            'tr',
            {},
            h('td', {}, String(s.index ?? 'early')),
            h('td', {}, s.groups.join(', ')),
            h('td', {}, formatDuration(s.durationMs)),
            h('td', {}, s.endedBy ?? '-'),
          ),
        ),
        h(
          'tr',
          {},
          h('td', {}, 'final'),
          h('td', {}, 'master'),
          h('td', {}, formatDuration(d.final.durationMs)),
          h('td', {}, d.final.error ?? 'ok'),
        ),
      ),
    ),
    h(
      'table',
      { class: 'report' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'host'),
          h('th', {}, 'ack'),
          h('th', {}, 'down after'),
          h('th', {}, 'problems'),
        ),
      ),
      h(
        'tbody',
        {},
        ...d.hosts.map((x) =>
          h(
            'tr',
            { 'data-host': x.id },
            h('td', {}, x.id),
            h('td', {}, x.ackLatencyMs === null ? '-' : `${x.ackLatencyMs} ms`),
            h('td', {}, formatDuration(x.shutdownMs)),
            h('td', {}, x.failures.join('; ') || 'none'),
          ),
        ),
      ),
    ),
  );
}
