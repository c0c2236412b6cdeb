// The users feature's entry in the query cache: the whole list (users are few).
export const userKeys = {
  all: ["users"] as const,
  list: ["users", "list"] as const,
};
