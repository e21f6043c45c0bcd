export declare function missingObjects(gitdir: string, oids: Iterable<string>): Promise<string[]>;
