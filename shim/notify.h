#ifndef TDOCK_NOTIFY_H
#define TDOCK_NOTIFY_H

/* tdock-shim notify STATE...: sd_notify for the daemon (Node has no datagram sockets). */
int notify_main(int argc, char **argv);

#endif
