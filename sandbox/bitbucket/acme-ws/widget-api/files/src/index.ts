export const service = "widget-api";
