// This page's own operations: the page registers an operation on its session, and when
// hub-side code calls it (the demo node's `demo/ask` does), the call shows here with its
// input, for the person at the page to answer, fail, or let the hub's abort end.

import { CallError } from "/alknet/client.mjs";
import { element } from "/alknet/console/form.js";

const pretty = (value) => JSON.stringify(value, null, 2);

/** The panel inside `root`, for the session `session()` returns. */
export function pagesPanel(root, session) {
  const registered = element("ul", undefined, { class: "registered" });
  const incoming = element("ol", undefined, { class: "incoming", "aria-live": "polite" });
  const empty = element("p", "No call from the node yet.", { class: "muted" });
  root.append(element("h3", "Registered here"), registered, element("h3", "Calls from the node"), empty, incoming);
  let calls = 0;

  /** One incoming call: its input, and an answer the person writes. */
  function ask(name, input, signal) {
    calls += 1;
    empty.hidden = true;
    const n = calls;
    const item = element("li", undefined, { class: "call", "data-call": String(n) });
    const title = element("h4", `Call ${n}: ${name}`);
    const answerId = `answer-${n}`;
    const answer = element("textarea", undefined, { id: answerId, rows: "3", spellcheck: "false" });
    answer.value = pretty({ ok: true });
    const problem = element("p", "", { class: "error", role: "alert" });
    const reply = element("button", "Answer", { type: "button" });
    const fail = element("button", "Fail", { type: "button", class: "quiet" });
    const state = element("p", "Waiting for your answer", { class: "muted state" });
    const actions = element("div", undefined, { class: "actions" });
    actions.append(reply, fail);
    item.append(title, element("pre", pretty(input), { tabindex: "0", "aria-label": `Input of call ${n}` }),
      element("label", "Answer as JSON", { for: answerId }), answer, problem, actions, state);
    incoming.prepend(item);
    answer.focus();
    return new Promise((resolve, reject) => {
      const done = (text) => {
        state.textContent = text;
        for (const control of [answer, reply, fail]) control.disabled = true;
      };
      signal.addEventListener("abort", () => {
        done("Aborted by the node");
        reject(new Error("aborted"));
      });
      reply.addEventListener("click", () => {
        let output;
        try {
          output = JSON.parse(answer.value);
        } catch (error) {
          problem.textContent = `Not JSON: ${error.message}`;
          answer.focus();
          return;
        }
        problem.textContent = "";
        done("Answered");
        resolve(output);
      });
      fail.addEventListener("click", () => {
        done("Failed on purpose");
        reject(new CallError({ code: "DECLINED", message: "the person at the page declined" }));
      });
    });
  }

  return {
    /** Registers `name` (a query or mutation) on the session; calls to it are asked here. */
    register(name, opType, description) {
      session().register({ name, op_type: opType, description }, (input, { signal }) => ask(name, input, signal));
      // Registering a name again replaces it, on the session as here.
      registered.querySelector(`[data-registered="${CSS.escape(name)}"]`)?.remove();
      registered.append(element("li", `${name} (${opType})`, { "data-registered": name }));
    },
    /** Forgets what was registered: a new session starts with none. */
    reset() {
      registered.replaceChildren();
      incoming.replaceChildren();
      empty.hidden = false;
      calls = 0;
    },
  };
}
