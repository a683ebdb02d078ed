// kickstand's dashboard: keeps the server-rendered pages live from the
// API's event stream. No framework; every string from the server goes into
// the page as textContent, never as HTML.
'use strict';

(function () {
  const meta = (name) => {
    const m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.content : '';
  };
  const csrf = meta('ks-csrf');
  const stuckAfter = (Number(meta('ks-stuck-after')) || 600) * 1000;
  const page = document.body.dataset.page;
  const quietBoot = 10 * 60 * 1000; // a discover after this long is a new power-on
  const maxTimeline = 5000; // rows kept on a machine's page, as the server keeps events

  // Counters the browser test reads (and anyone curious, in the console).
  const stats = { messages: 0, events: 0, progress: 0, frames: 0, maxBatch: 0, dropped: 0, reconnects: 0, resyncs: 0 };
  window.kickstand = { stats: stats };

  // --- the API ---

  function loginAgain() {
    location.assign('/ui/login?next=' + encodeURIComponent(location.pathname));
  }

  // api calls the REST API with the session cookie; what changes something
  // carries the page's CSRF value. It returns the JSON answer, or throws an
  // Error with the API's message and status.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-Kickstand-CSRF'] = csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(path, {
      method: method, headers: headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status === 401) {
      loginAgain();
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!resp.ok) {
      const err = new Error((data && data.error) || (resp.status + ' ' + resp.statusText));
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // --- the event stream ---

  function setLive(on) {
    const el = document.getElementById('live');
    if (!el) return;
    el.hidden = false;
    el.textContent = on ? 'live' : 'reconnecting';
    el.classList.toggle('on', on);
  }

  // follow reads the event stream with fetch rather than EventSource: it
  // sees every event name (one per kind) and the status of a refusal.
  // Messages go to onMessage(name, data); onOpen runs on each connection
  // (to catch up on what happened while there was none).
  function follow(onMessage, onOpen) {
    let delay = 1000;
    async function run() {
      try {
        const resp = await fetch('/api/v1/events/stream', {
          credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'text/event-stream' },
        });
        if (resp.status === 401) {
          loginAgain();
          return;
        }
        if (!resp.ok || !resp.body) throw new Error('event stream: ' + resp.status);
        setLive(true);
        delay = 1000;
        onOpen();
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          buf += chunk.value;
          const blocks = buf.split('\n\n');
          buf = blocks.pop();
          for (const block of blocks) {
            let name = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) name = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
            }
            if (data.length) onMessage(name, data.join('\n'));
          }
        }
      } catch (e) {
        // reconnect below
      }
      setLive(false);
      stats.reconnects++;
      setTimeout(run, delay);
      delay = Math.min(delay * 2, 15000);
    }
    run();
  }

  // frames gathers messages and hands them to apply in batches, one per
  // animation frame (or, in a hidden tab, which has no frames, every half
  // second): a boot storm's thousands of events a second cost one pass over
  // the page each frame, not one per event.
  function frames(apply) {
    let queue = [];
    let round = 0;
    let due = false;
    function flush(r) {
      if (!due || r !== round) return;
      due = false;
      const batch = queue;
      queue = [];
      stats.frames++;
      stats.maxBatch = Math.max(stats.maxBatch, batch.length);
      apply(batch);
    }
    return function push(name, data) {
      stats.messages++;
      queue.push([name, data]);
      if (!due) {
        due = true;
        const r = ++round;
        requestAnimationFrame(() => flush(r));
        setTimeout(() => flush(r), 500);
      }
    };
  }

  // parse turns a batch into events, the newest transfers (if any message
  // carried them) and the count of events the server dropped.
  function parse(batch) {
    const out = { events: [], transfers: null, dropped: 0 };
    for (const [name, data] of batch) {
      let v;
      try { v = JSON.parse(data); } catch (e) { continue; }
      if (name === 'progress') {
        out.transfers = Array.isArray(v.transfers) ? v.transfers : [];
        stats.progress++; // also tells a catch-up that its own list of transfers is older
      } else if (name === 'dropped') {
        out.dropped += Number(v.events) || 0;
      } else if (v && typeof v.kind === 'string') {
        out.events.push(v);
        stats.events++;
      }
    }
    stats.dropped += out.dropped;
    return out;
  }

  // --- formatting ---

  const pad = (n, w) => String(n).padStart(w || 2, '0');

  // clock is a time of day as `kickstand machine show` prints it.
  function clock(t) {
    const d = new Date(t);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  // rough is a length of time: 42s, 3m05s, 2h07m.
  function rough(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + pad(s % 60) + 's';
    return Math.floor(s / 3600) + 'h' + pad(Math.floor(s / 60) % 60) + 'm';
  }

  // goDuration is Go's time.Duration String of ms, to the millisecond.
  function goDuration(ms) {
    ms = Math.round(ms);
    if (ms === 0) return '0s';
    let out = '';
    if (ms >= 3600000) { out += Math.floor(ms / 3600000) + 'h'; ms %= 3600000; }
    if (out || ms >= 60000) { out += Math.floor(ms / 60000) + 'm'; ms %= 60000; }
    const s = Math.floor(ms / 1000);
    const frac = ms % 1000;
    if (!out && s === 0) return frac + 'ms';
    return out + s + (frac ? '.' + pad(frac, 3).replace(/0+$/, '') : '') + 's';
  }

  function size(n) {
    if (n < 1024) return n + ' B';
    const units = 'KMGT';
    let i = -1;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return n.toFixed(1) + ' ' + units[i] + 'iB';
  }

  const moving = (state) => state === 'booting' || state === 'installing';

  // reported is the state a phone-home event reports.
  function reported(e) {
    if (e.fields && e.fields.state) return e.fields.state;
    return e.kind === 'phone-home' ? String(e.detail).split(':')[0] : '';
  }

  // bad reports whether an event says that something went wrong (as the
  // server's timeline marks it).
  function bad(e) {
    const f = e.fields || {};
    if (f.error || f.not_found || e.kind.endsWith('-refused')) return true;
    if (['kickstart-invalid', 'kickstart-error', 'dhcp-nak', 'dhcp-decline'].includes(e.kind)) return true;
    return e.kind === 'phone-home' && reported(e) === 'failed';
  }

  // --- a machine's status: a row of the list, or the head of its page ---

  // Status is a machine as its row (or section) shows it; el holds cells
  // with the classes state, step, transfer, elapsed.
  class Status {
    constructor(el) {
      this.el = el;
      const d = el.dataset;
      this.mac = d.mac;
      this.state = d.state;
      this.ip = d.ip || '';
      this.last = d.last ? Date.parse(d.last) : 0;
      this.powerOn = d.powerOn ? Date.parse(d.powerOn) : 0;
      this.lastKind = d.lastKind || '';
      this.lastReported = d.lastReported || '';
      this.transfer = null;
      this.cell = (c) => el.querySelector('.' + c);
    }

    // powersOn reports whether e begins a boot (inventory.PowerOn's rule).
    powersOn(e, t) {
      if (e.kind !== 'dhcp-discover' || !(e.fields && e.fields.pxe)) return false;
      if (!this.last) return true;
      if (t - this.last > quietBoot) return true;
      if (['registered', 'edited', 'reinstall'].includes(this.lastKind)) return true;
      return this.lastKind === 'phone-home' && this.lastReported !== 'installing';
    }

    // add takes in one of the machine's events.
    add(e) {
      const t = Date.parse(e.time);
      const powerOn = this.powersOn(e, t);
      if (powerOn) this.powerOn = t;
      if (!this.powerOn) this.powerOn = t;
      this.last = t;
      this.lastKind = e.kind;
      this.lastReported = reported(e);
      if (e.state) this.state = e.state;
      if (e.ip) this.ip = e.ip;
      this.step = [e.kind, e.detail];
      return { since: t - this.powerOn, newBoot: powerOn };
    }

    // fromJSON takes in the machine as the API answers it.
    fromJSON(m) {
      this.state = m.state;
      if (m.ip) this.ip = m.ip;
      const e = m.last_event;
      if (!e) return;
      const t = Date.parse(e.time);
      this.last = t;
      this.powerOn = t - e.since_power_on * 1000;
      this.lastKind = e.kind;
      this.lastReported = reported(e);
      this.step = [e.kind, e.detail];
      const host = this.cell('hostname');
      if (host) host.textContent = m.hostname;
    }

    mark(now) {
      if (this.state === 'failed') return ['failed', 'failed'];
      if (moving(this.state) && this.last && now - this.last >= stuckAfter) {
        return ['stuck', 'stuck: no event for ' + rough(now - this.last)];
      }
      return ['', ''];
    }

    // render writes the status into the page.
    render(now) {
      const badge = this.cell('state').querySelector('.badge');
      badge.textContent = this.state;
      badge.className = 'badge state-' + this.state;
      this.el.dataset.state = this.state;
      if (this.step) {
        this.cell('step').querySelector('.kind').textContent = this.step[0];
        this.cell('step').querySelector('.detail').textContent = this.step[1];
        this.step = null;
      }
      this.renderTransfer();
      this.tick(now);
    }

    renderTransfer() {
      const cell = this.cell('transfer');
      const bar = cell.querySelector('progress');
      const label = cell.querySelector('.file');
      const x = this.transfer;
      if (!x) {
        bar.hidden = true;
        label.textContent = '';
        return;
      }
      bar.hidden = false;
      if (x.total > 0) {
        bar.max = x.total;
        bar.value = Math.min(x.bytes, x.total);
        label.textContent = x.file + ' ' + size(x.bytes) + ' of ' + size(x.total) + ' (' + x.proto + ')';
      } else {
        bar.removeAttribute('value'); // indeterminate
        label.textContent = x.file + ' ' + size(x.bytes) + ' (' + x.proto + ')';
      }
    }

    // tick updates what time changes: the elapsed time and the stuck mark.
    tick(now) {
      const [cls, text] = this.mark(now);
      this.el.classList.toggle('stuck', cls === 'stuck');
      this.el.classList.toggle('failed', cls === 'failed');
      const mark = this.cell('state').querySelector('.mark');
      if (mark.textContent !== text) mark.textContent = text;
      const elapsed = this.cell('elapsed');
      let since = '';
      if (this.powerOn && this.state !== 'new') since = rough((moving(this.state) ? now : this.last) - this.powerOn);
      if (elapsed.textContent !== since) elapsed.textContent = since;
    }
  }

  // transfersByMachine picks, for each status, the file it is loading now:
  // by MAC, or by address for a transfer known only by IP.
  function assignTransfers(statuses, transfers) {
    const byMAC = new Map();
    const byIP = new Map();
    for (const x of transfers) {
      const key = x.mac ? [byMAC, x.mac.toLowerCase()] : [byIP, x.ip];
      const prev = key[0].get(key[1]);
      // Of several at once, the one that started last is the current step.
      if (!prev || Date.parse(x.started) >= Date.parse(prev.started)) key[0].set(key[1], x);
    }
    const changed = [];
    for (const st of statuses) {
      const x = byMAC.get(st.mac) || (st.ip && byIP.get(st.ip)) || null;
      if (x !== st.transfer) {
        st.transfer = x;
        changed.push(st);
      }
    }
    return changed;
  }

  // --- the machines list ---

  function machinesPage() {
    const tbody = document.getElementById('machines');
    const rows = new Map();
    for (const tr of tbody.querySelectorAll('tr[data-mac]')) rows.set(tr.dataset.mac, new Status(tr));
    const fetching = new Set();
    let transfers = [];

    function summary() {
      const counts = {};
      let stuck = 0;
      const now = Date.now();
      for (const st of rows.values()) {
        counts[st.state] = (counts[st.state] || 0) + 1;
        if (st.mark(now)[0] === 'stuck') stuck++;
      }
      const parts = [rows.size + ' machines'];
      for (const s of ['new', 'booting', 'installing', 'installed', 'failed']) {
        if (counts[s]) parts.push(counts[s] + ' ' + s);
      }
      if (stuck) parts.push(stuck + ' stuck');
      document.getElementById('summary').textContent = parts.join(' · ');
    }

    // addRow makes the row of a machine the page did not list.
    function addRow(m) {
      if (rows.has(m.mac)) return rows.get(m.mac);
      const tr = document.createElement('tr');
      tr.dataset.mac = m.mac;
      tr.dataset.state = m.state;
      const cell = (cls) => {
        const td = document.createElement('td');
        if (cls) td.className = cls;
        tr.appendChild(td);
        return td;
      };
      const a = document.createElement('a');
      a.href = '/ui/machines/' + encodeURIComponent(m.mac);
      a.textContent = m.mac;
      cell('').appendChild(a);
      cell('hostname').textContent = m.hostname;
      cell('profile').textContent = m.profile || '(discovered)';
      const state = cell('state');
      for (const cls of ['badge', 'mark']) {
        const span = document.createElement('span');
        span.className = cls;
        state.append(span, ' ');
      }
      const step = cell('step');
      for (const cls of ['kind', 'detail']) {
        const span = document.createElement('span');
        span.className = cls;
        step.append(span, ' ');
      }
      const transfer = cell('transfer');
      const bar = document.createElement('progress');
      bar.hidden = true;
      const file = document.createElement('span');
      file.className = 'file';
      transfer.append(bar, ' ', file);
      cell('elapsed');
      tbody.appendChild(tr);
      tbody.closest('table').hidden = false;
      const empty = document.getElementById('empty');
      if (empty) empty.hidden = true;
      const st = new Status(tr);
      st.fromJSON(m);
      rows.set(m.mac, st);
      return st;
    }

    async function fetchMachine(mac) {
      if (fetching.has(mac)) return;
      fetching.add(mac);
      try {
        const m = await api('GET', '/api/v1/machines/' + encodeURIComponent(mac));
        const st = addRow(m);
        st.fromJSON(m);
        assignTransfers([st], transfers);
        st.render(Date.now());
        summary();
      } catch (e) {
        // gone again, or the stream will bring it
      } finally {
        fetching.delete(mac);
      }
    }

    // resync catches up with the API after a (re)connection or a loss.
    async function resync() {
      stats.resyncs++;
      const progress = stats.progress;
      try {
        const [list, xs] = await Promise.all([
          api('GET', '/api/v1/machines'),
          api('GET', '/api/v1/transfers').catch(() => null),
        ]);
        const now = Date.now();
        for (const m of list) {
          const st = rows.get(m.mac) || addRow(m);
          if (!m.last_event || Date.parse(m.last_event.time) >= st.last) st.fromJSON(m);
          st.render(now);
        }
        if (Array.isArray(xs) && progress === stats.progress) applyTransfers(xs);
        summary();
      } catch (e) {
        // the next connection tries again
      }
    }

    function applyTransfers(xs) {
      transfers = xs;
      for (const st of assignTransfers(rows.values(), xs)) st.renderTransfer();
    }

    const apply = (batch) => {
      const { events, transfers: xs, dropped } = parse(batch);
      const dirty = new Set();
      for (const e of events) {
        if (!e.mac) continue;
        const st = rows.get(e.mac);
        if (!st) {
          fetchMachine(e.mac);
          continue;
        }
        st.add(e);
        dirty.add(st);
      }
      const now = Date.now();
      for (const st of dirty) st.render(now);
      if (xs) applyTransfers(xs);
      if (dirty.size) summary();
      if (dropped) resync();
    };

    follow(frames(apply), resync);
    setInterval(() => {
      const now = Date.now();
      for (const st of rows.values()) st.tick(now);
      summary();
    }, 1000);
    summary();
  }

  // --- a machine's page ---

  function machinePage() {
    const section = document.getElementById('machine');
    const st = new Status(section);
    const timeline = document.getElementById('timeline');
    let latest = 0; // the newest event shown
    // The events shown, by time, kind and detail: a catch-up after a
    // (re)connection may fetch what the stream also brings.
    const shown = new Set();
    const key = (time, kind, detail) => Date.parse(time) + ' ' + kind + ' ' + detail;
    for (const tr of timeline.rows) {
      const t = tr.querySelector('time[datetime]').getAttribute('datetime');
      latest = Math.max(latest, Date.parse(t));
      shown.add(key(t, tr.cells[2].textContent, tr.cells[3].textContent));
    }

    function appendEvent(e) {
      const k = key(e.time, e.kind, e.detail);
      if (shown.has(k)) return false;
      shown.add(k);
      const { since, newBoot } = st.add(e);
      const tr = document.createElement('tr');
      if (bad(e)) tr.className = 'bad';
      else if (newBoot) tr.className = 'boot';
      const time = document.createElement('time');
      time.dateTime = e.time;
      time.textContent = clock(e.time);
      const cells = [time, (newBoot ? '*' : '') + '+' + goDuration(since), e.kind, e.detail];
      for (const c of cells) {
        const td = document.createElement('td');
        if (typeof c === 'string') td.textContent = c;
        else td.appendChild(c);
        tr.appendChild(td);
      }
      timeline.appendChild(tr);
      while (timeline.rows.length > maxTimeline) timeline.deleteRow(0);
      latest = Math.max(latest, Date.parse(e.time));
      if (e.kind === 'boot-config') showBootConfig(e);
      return true;
    }

    function showBootConfig(e) {
      const f = e.fields || {};
      document.getElementById('boot-config').textContent = 'The newest boot config it fetched: ' + (f.file || '') +
        (f.action ? ', which tells it to ' + f.action : '') + ' (' + e.detail + '), at ' + clock(e.time) + '.';
    }

    // refresh shows the machine's facts and kickstart anew after someone
    // changed it.
    async function refresh() {
      try {
        const m = await api('GET', '/api/v1/machines/' + encodeURIComponent(st.mac));
        document.getElementById('hostname').textContent = m.hostname;
        document.getElementById('profile').textContent = m.profile || '(discovered: not registered)';
        const pre = document.getElementById('kickstart');
        if (pre && m.profile) {
          const ks = await api('GET', '/api/v1/machines/' + encodeURIComponent(st.mac) + '/kickstart');
          pre.textContent = ks.text;
        }
      } catch (e) {
        // shown as it was
      }
    }

    async function resync() {
      stats.resyncs++;
      const progress = stats.progress;
      try {
        const since = latest ? '?since=' + encodeURIComponent(new Date(latest).toISOString()) : '';
        const evs = await api('GET', '/api/v1/machines/' + encodeURIComponent(st.mac) + '/events' + since);
        const xs = await api('GET', '/api/v1/transfers').catch(() => null);
        for (const e of evs) appendEvent(e);
        if (Array.isArray(xs) && progress === stats.progress) assignTransfers([st], xs);
        st.render(Date.now());
      } catch (e) {
        // the next connection tries again
      }
    }

    const apply = (batch) => {
      const { events, transfers: xs, dropped } = parse(batch);
      let changed = false;
      let edited = false;
      for (const e of events) {
        if (e.mac !== st.mac || !appendEvent(e)) continue;
        changed = true;
        if (['edited', 'reinstall', 'registered'].includes(e.kind)) edited = true;
      }
      if (xs && assignTransfers([st], xs).length) changed = true;
      if (changed) st.render(Date.now());
      if (edited) refresh();
      if (dropped) resync();
    };

    follow(frames(apply), resync);
    setInterval(() => st.tick(Date.now()), 1000);
    actions(st);
  }

  // actions wires the reinstall button and the edit form (absent for a
  // read-only token; the API would refuse them anyway).
  function actions(st) {
    const result = document.getElementById('action-result');
    const say = (text, ok) => {
      result.textContent = text;
      result.className = ok ? 'ok' : 'error';
    };
    const reinstall = document.getElementById('reinstall');
    if (reinstall) {
      let armed = null;
      reinstall.addEventListener('click', async () => {
        if (!armed) { // a second click confirms: no dialogs
          reinstall.textContent = 'Reinstall: click again to confirm';
          reinstall.classList.add('confirm');
          armed = setTimeout(() => {
            armed = null;
            reinstall.textContent = 'Reinstall';
            reinstall.classList.remove('confirm');
          }, 5000);
          return;
        }
        clearTimeout(armed);
        armed = null;
        reinstall.textContent = 'Reinstall';
        reinstall.classList.remove('confirm');
        reinstall.disabled = true;
        try {
          const w = await api('POST', '/api/v1/machines/' + encodeURIComponent(st.mac) + '/reinstall');
          say('Sent back to new (it was ' + (w.was || w.machine.state) + '): its next PXE boot installs.', true);
        } catch (e) {
          say('Reinstall refused: ' + e.message, false);
        } finally {
          reinstall.disabled = false;
        }
      });
    }
    const form = document.getElementById('edit');
    if (form) {
      const initial = { hostname: form.elements.hostname.value, profile: form.elements.profile.value };
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const patch = {};
        for (const k of ['hostname', 'profile']) {
          const v = form.elements[k].value;
          if (v !== initial[k] && !(k === 'profile' && v === '')) patch[k] = v;
        }
        if (Object.keys(patch).length === 0) {
          say('Nothing changed.', true);
          return;
        }
        try {
          const w = await api('PATCH', '/api/v1/machines/' + encodeURIComponent(st.mac), patch);
          initial.hostname = w.machine.hostname;
          initial.profile = w.machine.profile;
          const notes = (w.changes || []).concat(w.warnings || []);
          say('Saved' + (notes.length ? ': ' + notes.join('; ') : '.'), true);
        } catch (e) {
          say('Not saved: ' + e.message, false);
        }
      });
    }
  }

  // --- the server's page ---

  function serverPage() {
    const tbody = document.getElementById('transfers');
    const set = (id, text) => { document.getElementById(id).textContent = text; };
    let pageDropped = 0;

    async function load() {
      const progress = stats.progress;
      try {
        const info = await api('GET', '/api/v1/server');
        set('version', info.version || '(unknown)');
        set('started', info.started ? new Date(info.started).toLocaleString() + ' (' + rough(Date.now() - Date.parse(info.started)) + ' ago)' : '');
        set('dropped-events', String(info.dropped_events));
        set('stream-dropped', String(info.stream_dropped));
        const listeners = document.getElementById('listeners');
        listeners.replaceChildren();
        for (const l of info.listeners || []) {
          const tr = listeners.insertRow();
          tr.insertCell().textContent = l.proto;
          tr.insertCell().textContent = l.address;
        }
      } catch (e) {
        const el = document.getElementById('server-error');
        el.hidden = false;
        el.textContent = 'Cannot ask the server about itself: ' + e.message;
      }
      try {
        const xs = await api('GET', '/api/v1/transfers');
        if (progress === stats.progress) showTransfers(xs);
      } catch (e) {
        // the stream's progress messages will show them
      }
    }

    function showTransfers(xs) {
      tbody.replaceChildren();
      document.getElementById('no-transfers').hidden = xs.length > 0;
      const now = Date.now();
      for (const x of xs) {
        const tr = tbody.insertRow();
        const who = tr.insertCell();
        if (x.mac) {
          const a = document.createElement('a');
          a.href = '/ui/machines/' + encodeURIComponent(x.mac);
          a.textContent = x.mac;
          who.append(a, ' ');
        }
        who.append(x.ip || '');
        tr.insertCell().textContent = x.proto;
        tr.insertCell().textContent = x.file;
        const p = tr.insertCell();
        const bar = document.createElement('progress');
        if (x.total > 0) {
          bar.max = x.total;
          bar.value = Math.min(x.bytes, x.total);
        }
        p.append(bar, ' ' + size(x.bytes) + (x.total > 0 ? ' of ' + size(x.total) : ''));
        tr.insertCell().textContent = rough(now - Date.parse(x.started));
      }
    }

    const apply = (batch) => {
      const { transfers: xs, dropped } = parse(batch);
      if (xs) showTransfers(xs);
      if (dropped) {
        pageDropped += dropped;
        set('page-dropped', String(pageDropped));
      }
    };
    follow(frames(apply), load);
  }

  // Times the server wrote are in its zone; show them in the browser's.
  for (const t of document.querySelectorAll('table.timeline time[datetime]')) {
    t.textContent = clock(t.getAttribute('datetime'));
  }

  switch (page) {
    case 'machines': machinesPage(); break;
    case 'machine': machinePage(); break;
    case 'server': serverPage(); break;
  }
})();
