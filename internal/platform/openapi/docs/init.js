// Renders /openapi.json with Swagger UI. It is a file of its own, not an
// inline script, so that the page's Content-Security-Policy allows scripts
// from 'self' only.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // Never send the document to swagger.io's online validator.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // "Try it out" calls this origin only; the CSP's connect-src 'self'
  // enforces the same in the browser.
  requestInterceptor: function (req) {
    var target = new URL(req.url, window.location.href);
    if (target.origin !== window.location.origin) {
      throw new Error("the API reference calls only " + window.location.origin + ", not " + target.origin);
    }
    return req;
  },
});
