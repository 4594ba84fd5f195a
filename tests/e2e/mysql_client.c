/* mysql_client.c -- a MariaDB Connector/C client for the end-to-end tests:
 * the binary protocol (prepared statements with parameters), a statement
 * that fails to prepare, and several result sets from one COM_QUERY.
 *
 * usage: mysql_client HOST PORT USER PASSWORD DB ROUNDS
 * Prints what it ran: "executes N", "prepares N", "queries N". */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(MYSQL *c, const char *what)
{
	fprintf(stderr, "%s: %s\n", what, mysql_error(c));
	exit(1);
}

static void stmt_die(MYSQL_STMT *s, const char *what)
{
	fprintf(stderr, "%s: %s\n", what, mysql_stmt_error(s));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: mysql_client HOST PORT USER PASSWORD DB ROUNDS\n");
		return 2;
	}
	int rounds = atoi(argv[6]), executes = 0, prepares = 0, queries = 0;
	MYSQL *c = mysql_init(NULL);
	unsigned int ssl = 0; /* the test server has no certificate: in the clear */
	mysql_optionsv(c, MYSQL_OPT_SSL_ENFORCE, &ssl);
	if (!mysql_real_connect(c, argv[1], argv[3], argv[4], argv[5], (unsigned)atoi(argv[2]), NULL,
				CLIENT_MULTI_STATEMENTS))
		die(c, "connect");
	if (mysql_query(c, "CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY, owner VARCHAR(64), balance INT)") ||
	    mysql_query(c, "DELETE FROM accounts"))
		die(c, "setup");
	queries += 2;

	MYSQL_STMT *ins = mysql_stmt_init(c), *sel = mysql_stmt_init(c), *bad = mysql_stmt_init(c);
	const char *q_ins = "INSERT INTO accounts (id, owner, balance) VALUES (?, ?, ?)";
	const char *q_sel = "SELECT owner, balance FROM accounts WHERE id = ?";
	if (mysql_stmt_prepare(ins, q_ins, strlen(q_ins)))
		stmt_die(ins, "prepare insert");
	if (mysql_stmt_prepare(sel, q_sel, strlen(q_sel)))
		stmt_die(sel, "prepare select");
	prepares += 2;
	/* a table that is not there: the server refuses the prepare */
	const char *q_bad = "SELECT * FROM no_such_table WHERE id = ?";
	if (!mysql_stmt_prepare(bad, q_bad, strlen(q_bad))) {
		fprintf(stderr, "prepare of a missing table succeeded\n");
		return 1;
	}
	prepares++;

	for (int i = 0; i < rounds; i++) {
		int id = i + 1, bal = 1000 + i;
		char owner[64];
		unsigned long olen = (unsigned long)snprintf(owner, sizeof(owner), "s3cr3t-owner-%d", i);
		MYSQL_BIND p[3];
		memset(p, 0, sizeof(p));
		p[0].buffer_type = MYSQL_TYPE_LONG;
		p[0].buffer = &id;
		p[1].buffer_type = MYSQL_TYPE_STRING;
		p[1].buffer = owner;
		p[1].buffer_length = sizeof(owner);
		p[1].length = &olen;
		p[2].buffer_type = MYSQL_TYPE_LONG;
		p[2].buffer = &bal;
		if (mysql_stmt_bind_param(ins, p) || mysql_stmt_execute(ins))
			stmt_die(ins, "insert");
		executes++;

		MYSQL_BIND k;
		memset(&k, 0, sizeof(k));
		k.buffer_type = MYSQL_TYPE_LONG;
		k.buffer = &id;
		char got[64];
		unsigned long glen = 0;
		int gbal = 0;
		MYSQL_BIND r[2];
		memset(r, 0, sizeof(r));
		r[0].buffer_type = MYSQL_TYPE_STRING;
		r[0].buffer = got;
		r[0].buffer_length = sizeof(got);
		r[0].length = &glen;
		r[1].buffer_type = MYSQL_TYPE_LONG;
		r[1].buffer = &gbal;
		if (mysql_stmt_bind_param(sel, &k) || mysql_stmt_execute(sel) || mysql_stmt_bind_result(sel, r) ||
		    mysql_stmt_store_result(sel))
			stmt_die(sel, "select");
		executes++;
		int rows = 0;
		while (mysql_stmt_fetch(sel) == 0)
			rows++;
		if (rows != 1 || gbal != bal) {
			fprintf(stderr, "select %d: %d rows, balance %d\n", id, rows, gbal);
			return 1;
		}
		mysql_stmt_free_result(sel);
	}
	mysql_stmt_close(ins);
	mysql_stmt_close(sel);
	mysql_stmt_close(bad);

	/* two result sets and an OK from one COM_QUERY */
	if (mysql_query(c, "SELECT COUNT(*) FROM accounts; SELECT owner FROM accounts WHERE balance > 1000; "
			   "UPDATE accounts SET balance = balance + 1 WHERE id = 1"))
		die(c, "multi");
	queries++;
	int sets = 0;
	do {
		MYSQL_RES *res = mysql_store_result(c);
		if (res) {
			sets++;
			mysql_free_result(res);
		}
	} while (mysql_next_result(c) == 0);
	if (sets != 2) {
		fprintf(stderr, "%d result sets\n", sets);
		return 1;
	}
	if (mysql_query(c, "SELECT balance FROM no_such_table") == 0) {
		fprintf(stderr, "a missing table answered\n");
		return 1;
	}
	queries++;
	if (mysql_ping(c))
		die(c, "ping");
	mysql_close(c);
	printf("executes %d\nprepares %d\nqueries %d\n", executes, prepares, queries);
	return 0;
}
