// rujuk: the API documentation (Swagger UI from npm, installed by `make setup`; no CDN, no inline script)
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
