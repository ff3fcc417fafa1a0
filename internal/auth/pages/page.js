const form = document.getElementById("form");
const out = document.getElementById("result");
const token = new URLSearchParams(location.search).get("token");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {};
  if (token) body.token = token;
  for (const input of form.querySelectorAll("input")) body[input.name] = input.value;
  const res = await fetch(form.dataset.endpoint, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  });
  out.hidden = false;
  out.textContent = res.status + " " + res.statusText + "\n" + JSON.stringify(await res.json(), null, 2);
});
