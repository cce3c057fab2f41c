/**
 * The upsfleet dashboard (served by the master at `/`): a snapshot then every change from the master's
 * live stream, folded by the same model `upsfleet monitor` uses, drawn at most once per frame. Admin
 * actions go to the master's admin API with an admin token, after a confirmation.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { applyLive, type LiveModel, parseLiveMessage } from '../../master/dashboard/live-model.js';
import { HistoryChart } from './chart.js';
import { LiveStream } from './stream.js';
import { renderDrill, renderFleet, renderHeader, renderJournal, renderLive, renderUps } from './view.js';

const VIEWER_KEY = 'upsfleet.viewerToken';
const ADMIN_KEY = 'upsfleet.adminToken';

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function stored(store: Storage, key: string): string | null {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

let model: LiveModel | null = null;
let frame = 0;
let chart: HistoryChart | null = null;

/** The master's clock, as well as we know it. */
function masterNow(): number {
  return Date.now() - (model?.skewMs ?? 0);
}

function draw(): void {
  frame = 0;
  if (!model) return;
  const now = masterNow();
  byId('app').hidden = false;
  renderHeader(model);
  renderUps(model, now);
  renderFleet(model, now);
  renderLive(model);
  renderDrill(model);
  renderJournal(model);
  chart ??= new HistoryChart(byId('chart'));
  chart.update(model.history, now);
}

function schedule(): void {
  if (frame === 0) frame = requestAnimationFrame(draw);
}

function setConnection(state: string, detail?: string): void {
  const pill = byId('conn');
  pill.dataset.state = state;
  pill.textContent = state === 'live' ? 'live' : state === 'refused' ? 'token needed' : state;
  if (state === 'refused') {
    byId('token-form').hidden = false;
    byId('token-why').textContent =
      `${detail ?? 'a viewer token is needed'}: this master shows its fleet to viewer or admin tokens only.`;
  } else if (state === 'live') {
    byId('token-form').hidden = true;
  }
}

const stream = new LiveStream('live', () => stored(localStorage, VIEWER_KEY), {
  message(data) {
    const msg = parseLiveMessage(data);
    if (!msg) return;
    model = applyLive(model, msg, Date.now());
    schedule();
  },
  state: setConnection,
});

byId<HTMLFormElement>('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = byId<HTMLInputElement>('token-input').value.trim();
  try {
    if (token) localStorage.setItem(VIEWER_KEY, token);
    else localStorage.removeItem(VIEWER_KEY);
  } catch {
    // private mode: the token lasts as long as the page
  }
  stream.restart();
});

interface Action {
  title: string;
  text: string;
  path: string;
  body: Record<string, unknown>;
}

function confirmAction(action: Action): void {
  const dialog = byId<HTMLDialogElement>('confirm');
  byId('confirm-title').textContent = action.title;
  byId('confirm-text').textContent = action.text;
  const token = byId<HTMLInputElement>('admin-token');
  token.value = stored(sessionStorage, ADMIN_KEY) ?? '';
  dialog.returnValue = '';
  dialog.onclose = () => {
    if (dialog.returnValue === 'ok') void run(action, token.value.trim());
  };
  dialog.showModal();
}

async function run(action: Action, token: string): Promise<void> {
  const result = byId('action-result');
  result.className = '';
  result.textContent = `${action.title}: sending...`;
  try {
    if (byId<HTMLInputElement>('admin-remember').checked && token) sessionStorage.setItem(ADMIN_KEY, token);
  } catch {
    // storage refused: nothing remembered
  }
  try {
    const res = await fetch(action.path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(action.body),
    });
    const answer = (await res.json().catch(() => ({}))) as { error?: string };
    if (res.ok) {
      result.className = 'tone-ok';
      result.textContent = `${action.title}: accepted`;
    } else {
      result.className = 'tone-bad';
      result.textContent = `${action.title}: refused (${res.status}) ${answer.error ?? ''}`;
    }
  } catch (err) {
    result.className = 'tone-bad';
    result.textContent = `${action.title}: the master did not answer (${(err as Error).message})`;
  }
}

byId('action-drill').addEventListener('click', () =>
  confirmAction({
    title: 'Run a drill',
    text: 'Every agent runs its drill-safe hooks in dry-run, step by step; nothing powers off. The report replaces the last one.',
    path: 'api/drill',
    body: {},
  }),
);
byId('action-fsd').addEventListener('click', () =>
  confirmAction({
    title: 'Forced shutdown',
    text: `This makes the fleet critical now: every host of ${model?.master.id ?? 'this master'}'s fleet is shut down in sequence, then the UPS gets killpower. It cannot be cancelled.`,
    path: 'api/fsd',
    body: { reason: 'FSD from the dashboard' },
  }),
);
byId<HTMLFormElement>('simulate-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = byId<HTMLInputElement>('sim-name').value.trim();
  const value = byId<HTMLInputElement>('sim-value').value.trim();
  confirmAction({
    title: `Set ${name}`,
    text: `The simulated UPS reports ${name} = "${value}" from now on; the policy acts on it as on a real UPS.`,
    path: 'api/simulate',
    body: { name, value },
  });
});

// ages, countdowns and the chart's right edge move on their own between messages
setInterval(schedule, 1000);
stream.start();
