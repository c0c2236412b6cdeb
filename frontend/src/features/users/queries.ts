// Query hooks of the users feature: the list from the shared cache (live events patch it), and the
// writes, which update it at once.

import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { createUser, listUsers, setPassword, updateUser, type User, type UserCreateBody, type UserList, type UserUpdateBody } from "./api";
import { upsertUser } from "./cache";
import { userKeys } from "./keys";

export function useUsers() {
  return useQuery({ queryKey: userKeys.list, queryFn: ({ signal }) => listUsers(signal) });
}

function patchList(client: QueryClient, user: User): void {
  client.setQueryData<UserList>(userKeys.list, (list) => (list ? upsertUser(list, user) : list));
}

export function useCreateUser() {
  const client = useQueryClient();
  return useMutation({ mutationFn: (body: UserCreateBody) => createUser(body), onSuccess: (user) => patchList(client, user) });
}

export function useUpdateUser() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ username, body, version }: { username: string; body: UserUpdateBody; version?: number }) => updateUser(username, body, version),
    onSuccess: (user) => patchList(client, user),
  });
}

/** Applies a user as it is now (a 412's `current`) to the list. */
export function useAcceptUser() {
  const client = useQueryClient();
  return (user: User) => patchList(client, user);
}

export function useSetPassword() {
  return useMutation({ mutationFn: ({ username, password }: { username: string; password: string }) => setPassword(username, password) });
}
